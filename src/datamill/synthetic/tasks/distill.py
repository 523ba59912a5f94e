"""Distillation tasks: the teacher answers each record's prompt (:class:`Respond`) or rewrites one of its
text fields (:class:`Rewrite`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from datamill.errors import ConfigError, require
from datamill.records import Document, Example, Record
from datamill.synthetic.engine import InvalidOutput, Job, Result, parse_json
from datamill.synthetic.tasks.base import (
    PerRecordTeacherStep,
    TeacherSpec,
    as_records,
    chat_example,
    prompt_messages,
)

__all__ = ["Respond", "Rewrite", "respond"]

REWRITE_TEMPLATE = "Rewrite the following text so that it {instruction}. Reply with the rewritten text only.\n\n<text>\n{text}\n</text>"


class Respond(PerRecordTeacherStep):
    """Distillation: the teacher answers each record's prompt, ``k`` samples each (seeds ``seed..seed+k-1``).

    Args:
        k: samples per prompt.
        system: an optional system prompt.
        json_mode: ask for a JSON object (``response_format``) and keep only answers that parse.
        json_schema: a JSON Schema the answer must satisfy (implies JSON mode; the server is sent it as
            ``response_format`` ``json_schema``). Answers that are not JSON (``not_json``) or break the schema
            (``schema``) are re-asked, then rejected; kept outputs are the canonical JSON text.
        (and every :class:`TeacherStep` argument)
    """

    name = "synthetic.respond"
    template = "{prompt}"

    def __init__(
        self,
        *,
        teacher: TeacherSpec,
        k: int = 1,
        system: str | None = None,
        json_mode: bool = False,
        json_schema: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(teacher=teacher, **kw)
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k!r}", params="k")
        if json_schema is not None and not isinstance(json_schema, dict):
            raise ConfigError(f"json_schema must be a JSON Schema object, got {json_schema!r}")
        self.k, self.system = k, system
        self.json_schema = json_schema
        self.json_mode = json_mode or json_schema is not None
        self._parse = _json_parser(json_schema) if self.json_mode else None

    def _messages(self, rec: Record) -> list[dict[str, Any]]:
        msgs = prompt_messages(rec)
        if self.system and not (msgs and msgs[0]["role"] == "system"):
            msgs = [{"role": "system", "content": self.system}, *msgs]
        return msgs

    def _format(self) -> dict[str, Any]:
        if self.json_schema is not None:
            return {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": self.json_schema, "strict": True},
                }
            }
        return {"response_format": {"type": "json_object"}} if self.json_mode else {}

    def jobs(self, rec: Record) -> list[Job]:
        msgs = self._messages(rec)
        return [
            Job(messages=msgs, params=self.params_for(i, **self._format()), parse=self._parse, tag=i)
            for i in range(self.k)
        ]

    def outputs(self, rec: Record, results: list[Result]) -> Iterator[Record | str]:
        for res in results:
            msgs = res.job.messages
            prov = self.provenance([rec], res, template=self.system or self.template, sample=res.job.tag)
            answer = res.value if isinstance(res.value, str) else orjson.dumps(res.value).decode()
            yield chat_example(
                msgs, answer, provenance=prov, metadata={**rec.metadata, "sample": res.job.tag}
            )


def _json_parser(schema: dict[str, Any] | None) -> Any:
    """A job ``parse``: JSON (``not_json`` otherwise) that satisfies ``schema`` (``schema`` otherwise)."""
    validator = None
    if schema is not None:  # the whole schema, never a silently smaller check
        jsonschema = require("jsonschema", extra="synthetic", purpose="json_schema on teacher answers")
        cls = jsonschema.validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ConfigError(
                f"json_schema is not a valid JSON Schema: {exc.message}", params="json_schema"
            ) from None
        validator = cls(schema)
    required = list((schema or {}).get("required") or [])

    def parse(text: str) -> Any:
        value = parse_json(text, required=required)
        if validator is not None:
            err = next(iter(validator.iter_errors(value)), None)
            if err is not None:
                where = "/".join(str(p) for p in err.absolute_path) or "(root)"
                raise InvalidOutput("schema", f"{where}: {err.message}")
        return value

    return parse


def _field_text(rec: Record, field: str) -> str:
    value = getattr(rec, field, None)
    if not isinstance(value, str):
        raise ConfigError(f"record {rec.id} has no text field {field!r}")
    return value


class Rewrite(PerRecordTeacherStep):
    """Rewrite one text field of each record (``output`` of an Example, ``text`` of a Document)."""

    name = "synthetic.rewrite"
    template = REWRITE_TEMPLATE

    def __init__(
        self,
        *,
        teacher: TeacherSpec,
        instruction: str = "is clearer and more concise",
        field: str = "auto",
        **kw: Any,
    ) -> None:
        super().__init__(teacher=teacher, **kw)
        self.instruction, self.field = instruction, field

    def _field(self, rec: Record) -> str:
        if self.field != "auto":
            return self.field
        return "text" if isinstance(rec, Document) else "output"

    def jobs(self, rec: Record) -> list[Job]:
        text = _field_text(rec, self._field(rec))
        return [
            Job(
                messages=[
                    {
                        "role": "user",
                        "content": REWRITE_TEMPLATE.format(instruction=self.instruction, text=text),
                    }
                ],
                params=self.params_for(0),
            )
        ]

    def outputs(self, rec: Record, results: list[Result]) -> Iterator[Record | str]:
        for res in results:
            data = rec.to_dict()
            data.pop("type")
            field = self._field(rec)
            data["metadata"] = {**rec.metadata, f"original_{field}": data[field], "rewrite": self.instruction}
            data[field] = str(res.value).strip()
            data["id"] = ""
            data["provenance"] = self.provenance([rec], res).to_dict()
            yield type(rec).from_dict(data)


def respond(prompts: Iterable[Any], teacher: TeacherSpec, *, k: int = 1, **kw: Any) -> list[Example]:
    """Teacher answers for ``prompts`` (records, strings or dicts), ``k`` samples each."""
    return list(Respond(teacher=teacher, k=k, **kw)(as_records(prompts)))  # type: ignore[arg-type]

"""Synthetic records handed to the next stage: feedback tasks for a human check.

``datamill feedback import`` reads these rows; fine-tune formats read the records themselves
(``datamill.finetune.formats.to_row``), so they need no conversion here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import ConfigError
from datamill.records import Example, Message, Preference, Record

__all__ = ["feedback_tasks", "write_feedback_tasks"]


def _text(value: str | list[Message]) -> str:
    return value if isinstance(value, str) else str(value[-1].content or "") if value else ""


def _trace(rec: Record) -> dict[str, Any]:
    p = rec.provenance
    return {"record_id": rec.id, "teacher_model": p.model, "step": p.step, "parents": list(p.parents or [])}


def feedback_tasks(records: Iterable[Record]) -> Iterator[dict[str, Any]]:
    """Feedback task rows (``datamill feedback import``) from synthetic records, for a human check.

    * a judged :class:`Preference` becomes a pairwise task: the prompt and both responses (the app shuffles
      their order per annotator), with the LLM judge's verdicts in ``metadata`` to compare with people's;
    * an :class:`Example` (a teacher answer) becomes a rubric task: the chat *before* the answer as context,
      and the answer as the one response (so the answer is not shown twice).

    The task id is the record id; ``metadata`` names the teacher, the step and the parent ids.
    """
    for rec in records:
        if isinstance(rec, Preference):
            prompt: Any = rec.prompt if isinstance(rec.prompt, str) else [m.to_dict() for m in rec.prompt]
            meta: dict[str, Any] = _trace(rec)
            meta.update(
                (k, rec.metadata[k])
                for k in ("judge_model", "judge_verdicts", "swapped")
                if k in rec.metadata
            )
            yield {
                "id": rec.id,
                "prompt": prompt,
                "responses": [_text(rec.chosen), _text(rec.rejected)],
                "metadata": meta,
            }
        elif isinstance(rec, Example):
            if rec.messages and rec.messages[-1].role == "assistant":
                context = [m.to_dict() for m in rec.messages[:-1]]
                answer = str(rec.messages[-1].content or "")
            elif rec.output is not None:
                context, answer = [{"role": "user", "content": rec.input or ""}], rec.output
            else:
                raise ConfigError(
                    f"example {rec.id} has no answer to check (no output, no final assistant turn)"
                )
            row: dict[str, Any] = {"id": rec.id, "responses": [answer], "metadata": _trace(rec)}
            if (
                len(context) == 1
                and context[0]["role"] == "user"
                and isinstance(context[0].get("content"), str)
            ):
                row["prompt"] = context[0]["content"]
            else:
                row["prompt"] = context
            yield row
        else:
            raise ConfigError(
                f"cannot make a feedback task from a {rec.type_name} ({rec.id}); "
                "expected Preference or Example records"
            )


def write_feedback_tasks(
    inputs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], output: str | os.PathLike[str]
) -> int:
    """The :func:`feedback_tasks` of the records in ``inputs`` (files written by a synthetic step),
    written to ``output`` as JSON Lines for ``datamill feedback import``; returns how many."""
    from datamill.io import read_records, write_jsonl

    return write_jsonl(feedback_tasks(read_records(inputs)), output)

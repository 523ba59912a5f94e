"""Fine-tuning data formats: detect, read into datamill records, write back, convert.

| format | one row |
|---|---|
| ``openai`` | ``{"messages": [{role, content, name?, tool_calls?, tool_call_id?, weight?}...], "tools"?}`` (also TRL conversational language modeling) |
| ``openai_dpo`` | ``{"input": {"messages": [...], "tools"?}, "preferred_output": [assistant msg], "non_preferred_output": [assistant msg]}`` |
| ``sharegpt`` | ``{"conversations": [{"from": system/human/gpt/function_call/observation, "value"}], "system"?, "tools"?}`` |
| ``alpaca`` | ``{"instruction", "input", "output", "system"?, "history"?: [[user, assistant], ...]}`` |
| ``trl_text`` | ``{"text"}`` (TRL standard language modeling) |
| ``trl_prompt_completion`` | ``{"prompt", "completion"}``: strings (standard, also OpenAI's legacy format) or message lists (conversational) |
| ``trl_preference`` | ``{"prompt"?, "chosen", "rejected"}``: strings or message lists |
| ``trl_unpaired_preference`` | ``{"prompt", "completion", "label": bool}`` |

Supervised rows become :class:`~datamill.records.Example` with ``messages`` (text-only rows keep
``input``); preference rows become :class:`~datamill.records.Preference`. Fields a format has beyond
the conversation (``tools``, ``system`` …) travel in ``metadata``, so conversions keep them where the
target can hold them. The source format, file and line are in ``metadata["format"]`` and provenance.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from datamill.errors import ConfigError, InputError
from datamill.io import ErrorPolicy, expand_paths, iter_hf, iter_jsonl, iter_parquet
from datamill.io.jsonl import DEFAULT_MAX_LINE_BYTES
from datamill.records import Example, Message, Preference, Provenance, Record

__all__ = [
    "FORMATS",
    "convert",
    "detect_format",
    "format_of_row",
    "from_row",
    "iter_rows",
    "read_examples",
    "to_row",
    "write_examples",
]

FORMATS = ("openai", "openai_dpo", "sharegpt", "alpaca", "trl_text", "trl_prompt_completion", "trl_preference",
           "trl_unpaired_preference")
PREFERENCE_FORMATS = ("openai_dpo", "trl_preference")
_SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "function_call": "assistant", "observation": "tool", "tool": "tool", "function": "tool"}
_TO_SHAREGPT = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation",
                "function": "observation", "developer": "system"}
_EXTRA_KEYS = {"openai": ("tools", "parallel_tool_calls", "functions"), "sharegpt": ("system", "tools"),
               "alpaca": ("system", "history")}


def format_of_row(row: Any) -> str | None:
    """The format one row looks like, or None."""
    if not isinstance(row, dict):
        return None
    keys = set(row)
    if "messages" in keys and isinstance(row["messages"], list):
        return "openai"
    if "conversations" in keys:
        return "sharegpt"
    if "preferred_output" in keys and "non_preferred_output" in keys and "input" in keys:
        return "openai_dpo"
    if "chosen" in keys and "rejected" in keys:
        return "trl_preference"
    if "prompt" in keys and "completion" in keys:
        return "trl_unpaired_preference" if "label" in keys else "trl_prompt_completion"
    if "instruction" in keys and "output" in keys:
        return "alpaca"
    if "text" in keys and isinstance(row["text"], str):
        return "trl_text"
    return None


def detect_format(rows: Iterable[tuple[int, Any]], *, path: str | None = None, sample: int = 1000) -> str:
    """The one format of ``(line, row)`` pairs (first ``sample`` rows); InputError when unknown or mixed."""
    seen: dict[str, int] = {}
    unknown: tuple[int, Any] | None = None
    for i, (line, row) in enumerate(rows):
        if i >= sample:
            break
        fmt = format_of_row(row)
        if fmt is None:
            unknown = unknown or (line, row)
            continue
        seen.setdefault(fmt, line)
    if len(seen) > 1:
        where = ", ".join(f"{fmt} (first at line {line})" for fmt, line in sorted(seen.items(), key=lambda x: x[1]))
        raise InputError(f"mixed formats in one file: {where}; split the file or pass format=", path=path)
    if not seen:
        if unknown is None:
            raise InputError("no rows to detect a format from", path=path)
        line, row = unknown
        keys = sorted(row) if isinstance(row, dict) else type(row).__name__
        raise InputError(f"unrecognised fine-tuning format (keys {keys}); expected one of: messages (openai), "
                         "conversations (sharegpt), instruction/output (alpaca), prompt/completion, "
                         "prompt/chosen/rejected, input/preferred_output/non_preferred_output, text",
                         path=path, line=line)
    return next(iter(seen))


def iter_rows(source: Any, *, policy: ErrorPolicy | None = None, split: str | None = None,
              max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[tuple[str, int, Any]]:
    """``(path, line, row)`` from JSONL/Parquet files, folders, globs, or an HF dataset (object or folder)."""
    if not isinstance(source, (str, os.PathLike)) or os.path.isdir(source) and os.path.exists(
            os.path.join(source, "dataset_info.json")) or _is_hf_dict(source):
        name = source if isinstance(source, (str, os.PathLike)) else "<dataset>"
        for n, row in iter_hf(source, split=split):
            yield os.fspath(name), n, row
        return
    for path in expand_paths(source, suffixes=(".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".parquet")):
        if path.endswith(".parquet"):
            for n, row in iter_parquet(path):
                yield path, n, row
        else:
            for n, _, row in iter_jsonl(path, policy=policy, max_line_bytes=max_line_bytes):
                yield path, n, row


def _is_hf_dict(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike)) and os.path.isdir(source) and os.path.exists(
        os.path.join(source, "dataset_dict.json"))


# -- rows -> records -------------------------------------------------------------------------------

def _msgs(value: Any, what: str) -> list[Message]:
    if isinstance(value, str):
        return [Message(role="user" if what == "prompt" else "assistant", content=value)]
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a string or a list of messages, got {type(value).__name__}")
    return [Message.from_dict(m) for m in value]


def _sharegpt_msgs(turns: Any) -> list[Message]:
    if not isinstance(turns, list):
        raise ValueError(f"conversations must be a list, got {type(turns).__name__}")
    out: list[Message] = []
    for t in turns:
        if not isinstance(t, dict) or "from" not in t or "value" not in t:
            raise ValueError("each conversation turn needs 'from' and 'value'")
        who, value = t["from"], t["value"]
        if who not in _SHAREGPT_ROLES:
            raise ValueError(f"unknown sharegpt role {who!r}; allowed: {', '.join(_SHAREGPT_ROLES)}")
        if who == "function_call":
            call = orjson.loads(value) if isinstance(value, str) else value
            calls = call if isinstance(call, list) else [call]
            out.append(Message(role="assistant", tool_calls=[
                {"id": c.get("id", f"call_{len(out)}_{i}"), "type": "function",
                 "function": {"name": c.get("name"), "arguments": c.get("arguments") if isinstance(
                     c.get("arguments"), str) else orjson.dumps(c.get("arguments", {})).decode()}}
                for i, c in enumerate(calls)]))
        elif _SHAREGPT_ROLES[who] == "tool":
            prev = next((m for m in reversed(out) if m.tool_calls), None)
            call_id = t.get("tool_call_id") or (prev.tool_calls[0]["id"] if prev and prev.tool_calls else None)
            out.append(Message(role="tool", content=value, tool_call_id=call_id))
        else:
            out.append(Message(role=_SHAREGPT_ROLES[who], content=value))
    return out


def from_row(row: Any, fmt: str, *, source: str | None = None, line: int | None = None) -> Record:
    """One row of ``fmt`` as an Example or Preference; ValueError with the reason when it does not fit."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    meta: dict[str, Any] = {"format": fmt}
    for key in _EXTRA_KEYS.get(fmt, ()):
        if key in row:
            meta[key] = row[key]
    for key in ("id", "metadata"):
        if isinstance(row.get(key), dict):
            meta.update(row[key])
    rid = str(row["id"]) if isinstance(row.get("id"), (str, int)) else ""
    prov = Provenance(source=source, line=line)
    if fmt == "openai":
        return Example(id=rid, messages=_msgs(row["messages"], "messages"), metadata=meta, provenance=prov)
    if fmt == "sharegpt":
        msgs = _sharegpt_msgs(row["conversations"])
        if isinstance(row.get("system"), str) and row["system"] and not (msgs and msgs[0].role == "system"):
            msgs.insert(0, Message(role="system", content=row["system"]))
            meta.pop("system", None)
        return Example(id=rid, messages=msgs, metadata=meta, provenance=prov)
    if fmt == "alpaca":
        for key in ("instruction", "output"):
            if not isinstance(row.get(key), str):
                raise ValueError(f"alpaca {key!r} must be a string")
        inp = row.get("input") or ""
        if not isinstance(inp, str):
            raise ValueError("alpaca 'input' must be a string")
        msgs = []
        if isinstance(row.get("system"), str) and row["system"]:
            msgs.append(Message(role="system", content=row["system"]))
        for pair in row.get("history") or []:
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
                raise ValueError("alpaca 'history' must be a list of [user, assistant] string pairs")
            msgs += [Message(role="user", content=pair[0]), Message(role="assistant", content=pair[1])]
        user = row["instruction"] + ("\n\n" + inp if inp else "")
        msgs += [Message(role="user", content=user), Message(role="assistant", content=row["output"])]
        meta.pop("system", None)
        meta.pop("history", None)
        meta["alpaca"] = {"instruction": row["instruction"], "input": inp}
        return Example(id=rid, messages=msgs, metadata=meta, provenance=prov)
    if fmt == "trl_text":
        if not isinstance(row.get("text"), str):
            raise ValueError("'text' must be a string")
        return Example(id=rid, input=row["text"], metadata=meta, provenance=prov)
    if fmt in ("trl_prompt_completion", "trl_unpaired_preference"):
        prompt, completion = row.get("prompt"), row.get("completion")
        msgs = _msgs(prompt, "prompt") + _msgs(completion, "completion")
        meta["conversational"] = not isinstance(prompt, str)
        label = None
        if fmt == "trl_unpaired_preference":
            if not isinstance(row["label"], bool):
                raise ValueError("'label' must be true or false")
            label = row["label"]
        return Example(id=rid, messages=msgs, label=label, metadata=meta, provenance=prov)
    if fmt == "trl_preference":
        prompt = row.get("prompt", [])
        meta["conversational"] = not isinstance(row["chosen"], str)
        return Preference(id=rid, prompt=prompt if isinstance(prompt, str) else _msgs(prompt, "prompt"),
                          chosen=row["chosen"] if isinstance(row["chosen"], str) else _msgs(row["chosen"], "chosen"),
                          rejected=row["rejected"] if isinstance(row["rejected"], str) else _msgs(
                              row["rejected"], "rejected"), metadata=meta, provenance=prov)
    if fmt == "openai_dpo":
        inp = row["input"]
        if not isinstance(inp, dict) or "messages" not in inp:
            raise ValueError("openai_dpo 'input' must be an object with 'messages'")
        if "tools" in inp:
            meta["tools"] = inp["tools"]
        return Preference(id=rid, prompt=_msgs(inp["messages"], "messages"),
                          chosen=_msgs(row["preferred_output"], "preferred_output"),
                          rejected=_msgs(row["non_preferred_output"], "non_preferred_output"),
                          metadata=meta, provenance=prov)
    raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def read_examples(source: Any, *, format: str = "auto", on_error: str = "raise",  # noqa: A002
                  quarantine: Any = None, split: str | None = None) -> Iterator[Record]:
    """Stream a fine-tuning file (JSONL/Parquet/HF dataset) as Examples/Preferences.

    ``format="auto"`` detects it from the first rows (an error names the lines when formats mix).
    Rows that do not fit raise InputError naming file:line, or are quarantined.
    """
    from datamill.io import Quarantine

    q = quarantine if isinstance(quarantine, Quarantine) else Quarantine(quarantine)
    policy = ErrorPolicy(on_error, q)  # type: ignore[arg-type]
    if format != "auto" and format not in FORMATS:
        raise ConfigError(f"format must be 'auto' or one of {', '.join(FORMATS)}, got {format!r}")
    fmt = format
    if fmt == "auto":
        sniff = ErrorPolicy("quarantine") if on_error == "quarantine" else policy  # a bad first line says so
        name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
        fmt = detect_format(((n, row) for _, n, row in iter_rows(source, policy=sniff, split=split)), path=name)
    for path, n, row in iter_rows(source, policy=policy, split=split):
        got = format_of_row(row)
        try:
            if got is not None and got != fmt and not (fmt == "trl_text" and got is None):
                raise ValueError(f"row looks like {got}, but the file is {fmt}")
            yield from_row(row, fmt, source=path, line=n)
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            reason = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            policy.bad(path=path, line=n, kind="bad_example", reason=f"not a valid {fmt} row: {reason}",
                       raw=orjson.dumps(row, default=str))
    if not isinstance(quarantine, Quarantine):
        q.close()


# -- records -> rows -------------------------------------------------------------------------------

def _content(m: Message) -> str:
    if isinstance(m.content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in m.content if isinstance(p, dict))
    return m.content or ""


def _split_prompt(msgs: list[Message]) -> tuple[list[Message], list[Message]]:
    """(prompt, completion): the completion is the trailing run of assistant/tool messages."""
    i = len(msgs)
    while i > 0 and msgs[i - 1].role in ("assistant", "tool"):
        i -= 1
    if i == len(msgs):
        raise ValueError("the conversation has no final assistant message to use as the completion")
    return msgs[:i], msgs[i:]


def _as_msgs(value: str | list[Message], role: str) -> list[Message]:
    return [Message(role=role, content=value)] if isinstance(value, str) else value


def _sharegpt_turns(msgs: list[Message]) -> list[dict[str, Any]]:
    turns = []
    for m in msgs:
        if m.role == "assistant" and m.tool_calls:
            calls = [{"name": c["function"]["name"], "arguments": c["function"]["arguments"], "id": c.get("id")}
                     for c in m.tool_calls]
            turns.append({"from": "function_call", "value": orjson.dumps(calls[0] if len(calls) == 1 else calls).decode()})
        elif m.role == "assistant" and m.function_call:
            turns.append({"from": "function_call", "value": orjson.dumps(m.function_call).decode()})
        else:
            turn = {"from": _TO_SHAREGPT[m.role], "value": _content(m)}
            turns.append(turn)
    return turns


def to_row(rec: Record, fmt: str, *, keep_ids: bool = False) -> dict[str, Any]:
    """One record as a row of ``fmt``; ValueError when the record cannot be expressed in it."""
    meta = rec.metadata
    row: dict[str, Any]
    if isinstance(rec, Preference):
        if fmt == "trl_preference":
            conv = not isinstance(rec.chosen, str)
            if conv:
                row = {"prompt": [m.to_dict() for m in _as_msgs(rec.prompt, "user")],
                       "chosen": [m.to_dict() for m in _as_msgs(rec.chosen, "assistant")],
                       "rejected": [m.to_dict() for m in _as_msgs(rec.rejected, "assistant")]}
            else:
                row = {"prompt": rec.prompt if isinstance(rec.prompt, str) else "\n\n".join(
                    _content(m) for m in rec.prompt), "chosen": rec.chosen, "rejected": rec.rejected}
        elif fmt == "openai_dpo":
            inp: dict[str, Any] = {"messages": [m.to_dict() for m in _as_msgs(rec.prompt, "user")]}
            if "tools" in meta:
                inp["tools"] = meta["tools"]
            row = {"input": inp,
                   "preferred_output": [m.to_dict() for m in _as_msgs(rec.chosen, "assistant")],
                   "non_preferred_output": [m.to_dict() for m in _as_msgs(rec.rejected, "assistant")]}
        else:
            raise ValueError(f"a preference pair cannot be written as {fmt}; use openai_dpo or trl_preference")
    elif isinstance(rec, Example):
        if rec.messages is None:
            if fmt != "trl_text":
                raise ValueError(f"a text-only example can only be written as trl_text, not {fmt}")
            row = {"text": rec.input or ""}
        else:
            msgs = rec.messages
            if fmt == "openai":
                row = {"messages": [m.to_dict() for m in msgs]}
                for key in _EXTRA_KEYS["openai"]:
                    if key in meta:
                        row[key] = meta[key]
            elif fmt == "sharegpt":
                row = {"conversations": _sharegpt_turns(msgs)}
                if "tools" in meta:
                    row["tools"] = meta["tools"]
            elif fmt == "alpaca":
                system = [_content(m) for m in msgs if m.role == "system"]
                rest = [m for m in msgs if m.role != "system"]
                if len(rest) < 2 or len(rest) % 2 or any(
                        m.role != ("user" if i % 2 == 0 else "assistant") or m.tool_calls for i, m in enumerate(rest)):
                    raise ValueError("alpaca needs alternating user/assistant turns without tool calls")
                *hist, (last_user, last_asst) = [(rest[i], rest[i + 1]) for i in range(0, len(rest), 2)]
                orig = meta.get("alpaca") or {}
                user = _content(last_user)
                if orig and orig.get("instruction", "") + ("\n\n" + orig["input"] if orig.get("input") else "") == user:
                    row = {"instruction": orig["instruction"], "input": orig.get("input", "")}
                else:
                    row = {"instruction": user, "input": ""}
                row["output"] = _content(last_asst)
                if system:
                    row["system"] = "\n\n".join(system)
                if hist:
                    row["history"] = [[_content(u), _content(a)] for u, a in hist]
            elif fmt == "trl_text":
                row = {"text": "\n\n".join(_content(m) for m in msgs)}
            elif fmt in ("trl_prompt_completion", "trl_unpaired_preference"):
                prompt, completion = _split_prompt(msgs)
                conv = meta.get("conversational", len(prompt) != 1 or prompt[0].role != "user" or len(completion) != 1)
                if conv:
                    row = {"prompt": [m.to_dict() for m in prompt], "completion": [m.to_dict() for m in completion]}
                else:
                    row = {"prompt": _content(prompt[0]), "completion": _content(completion[0])}
                if fmt == "trl_unpaired_preference":
                    if not isinstance(rec.label, bool):
                        raise ValueError("trl_unpaired_preference needs a true/false label")
                    row["label"] = rec.label
            else:
                raise ValueError(f"an example cannot be written as {fmt}; use one of the supervised formats")
    else:
        raise ValueError(f"cannot write a {rec.type_name} record as a fine-tuning row")
    if keep_ids:
        row["id"] = rec.id
        row["datamill"] = {"provenance": rec.provenance.to_dict(),
                           "metadata": {k: v for k, v in meta.items() if k not in _EXTRA_KEYS.get(fmt, ())}}
    return row


def write_examples(records: Iterable[Record], path: str | os.PathLike[str], *, format: str = "openai",  # noqa: A002
                   keep_ids: bool = False) -> int:
    """Write Examples/Preferences as ``format`` rows to JSONL (.gz/.zst), Parquet, or an HF folder.

    ``keep_ids`` adds each record's ``id`` and a ``datamill`` column (provenance + metadata) so
    lineage survives the export; training APIs ignore extra keys only sometimes, so it is opt-in.
    """
    from datamill.io import write_records

    if format not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")

    def rows() -> Iterator[dict[str, Any]]:
        for rec in records:
            try:
                yield to_row(rec, format, keep_ids=keep_ids)
            except ValueError as exc:
                where = f"{rec.provenance.source}:{rec.provenance.line}: " if rec.provenance.source else ""
                raise InputError(f"{where}record {rec.id}: {exc}") from None

    return write_records(rows(), path)


def convert(src: Any, dst: str | os.PathLike[str], *, to: str, format: str = "auto",  # noqa: A002
            keep_ids: bool = False, on_error: str = "raise", quarantine: Any = None) -> int:
    """Read ``src`` in any (or the given) format and write ``dst`` as ``to``; returns rows written.

    ``on_error="quarantine"`` sets malformed rows aside in ``quarantine`` (a path or a
    :class:`~datamill.io.Quarantine`) instead of stopping at the first.
    """
    rows = read_examples(src, format=format, on_error=on_error, quarantine=quarantine)
    return write_examples(rows, dst, format=to, keep_ids=keep_ids)

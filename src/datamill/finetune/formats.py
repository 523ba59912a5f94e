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

Public datasets in their published shapes (Anthropic HH-RLHF, UltraFeedback, Stanford SHP, HelpSteer2,
Nectar, Dolly, OpenAssistant oasst1, chat-template text) are read too: see :mod:`datamill.finetune.public`.
``trl_preference`` rows may carry the prompt implicitly (``chosen``/``rejected`` hold the whole
conversation, as in TRL's implicit-prompt datasets and UltraFeedback-binarized): the shared start is the
prompt. ShareGPT variants (``from``/``value`` or ``role``/``content`` turns, ``human``/``gpt``/``chatgpt``/
``bing``/``model`` speakers, the list under ``conversations``, ``conversation`` or ``messages``) read as
``sharegpt``.

Supervised rows become :class:`~datamill.records.Example` with ``messages`` (text-only rows keep
``input``); preference rows become :class:`~datamill.records.Preference`. Fields a format has beyond
the conversation (``tools``, ``system`` …) travel in ``metadata``, so conversions keep them where the
target can hold them. A top-level ``label`` becomes the Example's ``label``; any other field a format does
not define is kept in ``metadata`` (and in ``metadata["row_fields"]``) and written back, so split, clean
and the rest keep it from read to write. The source format, file and line are in ``metadata["format"]``
and provenance.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from datamill.errors import ConfigError, InputError
from datamill.finetune.chat_text import detect_template, render_chatml
from datamill.finetune.public import (
    CONSUMED,
    GROUPED,
    NO_PREFERENCE,
    PUBLIC_FORMATS,
    PUBLIC_PREFERENCE,
    detect_public,
    oasst_conversations,
    pair_by_prompt,
    public_from_row,
)
from datamill.io import ErrorPolicy, expand_paths, iter_hf, iter_jsonl, iter_parquet
from datamill.io.jsonl import DEFAULT_MAX_LINE_BYTES
from datamill.records import Example, Message, Preference, Provenance, Record

__all__ = [
    "ConvertResult",
    "FORMATS",
    "NATIVE_FORMATS",
    "WRITABLE",
    "as_example",
    "convert",
    "detect_format",
    "format_of_row",
    "from_row",
    "iter_rows",
    "read_examples",
    "to_row",
    "write_examples",
    "write_format",
]

NATIVE_FORMATS = ("openai", "openai_dpo", "sharegpt", "alpaca", "trl_text", "trl_prompt_completion",
                  "trl_preference", "trl_unpaired_preference")
FORMATS = NATIVE_FORMATS + PUBLIC_FORMATS
WRITABLE = (*NATIVE_FORMATS, "chat_text")
_WRITE_AS = {"dolly": "alpaca"}  # a public SFT shape written back in the native format that holds all of it


def write_format(fmt: str | None, *, preference: bool = False) -> str:
    """The format to write records read as ``fmt`` in: the same one when it can be written, else the native
    format closest to it (Dolly -> alpaca, which keeps instruction, context and category; preference sets
    -> trl_preference; other conversations -> openai)."""
    if fmt in WRITABLE:
        return fmt  # type: ignore[return-value]
    if preference:
        return "trl_preference"
    return _WRITE_AS.get(fmt or "", "openai")
PREFERENCE_FORMATS = ("openai_dpo", "trl_preference")
_SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "function_call": "assistant", "observation": "tool", "tool": "tool", "function": "tool",
                   "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "model": "assistant",
                   "bot": "assistant", "prompter": "user", "developer": "system", "ipython": "tool"}
_SHAREGPT_LISTS = ("conversations", "conversation", "messages")
_NATIVE_KEYS = {"openai": ("messages", "tools", "parallel_tool_calls", "functions"),
                "openai_dpo": ("input", "preferred_output", "non_preferred_output"),
                "sharegpt": (*_SHAREGPT_LISTS, "system", "tools"),
                "alpaca": ("instruction", "input", "output", "system", "history"),
                "trl_text": ("text",), "trl_prompt_completion": ("prompt", "completion"),
                "trl_preference": ("prompt", "chosen", "rejected"),
                "trl_unpaired_preference": ("prompt", "completion", "label")}
_ALWAYS_KEYS = ("id", "metadata", "datamill", "label")
_TO_SHAREGPT = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation",
                "function": "observation", "developer": "system"}
_EXTRA_KEYS = {"openai": ("tools", "parallel_tool_calls", "functions"), "sharegpt": ("system", "tools"),
               "alpaca": ("system", "history")}


def _sharegpt_list(row: dict[str, Any]) -> str | None:
    """The key holding a ShareGPT-style turn list (``from``/``value`` turns, or ``role``/``content`` turns
    under ``conversations``/``conversation``), or None."""
    for key in _SHAREGPT_LISTS:
        turns = row.get(key)
        if isinstance(turns, list) and turns and isinstance(turns[0], dict) and (
                "from" in turns[0] or key != "messages" and "role" in turns[0]):
            return key
    return None


def format_of_row(row: Any) -> str | None:
    """The format one row looks like, or None."""
    if not isinstance(row, dict):
        return None
    public = detect_public(row)
    if public is not None:
        return public
    keys = set(row)
    if "preferred_output" in keys and "non_preferred_output" in keys and "input" in keys:
        return "openai_dpo"
    if "chosen" in keys and "rejected" in keys:  # before messages: UltraFeedback-binarized rows have both
        return "trl_preference"
    if _sharegpt_list(row) is not None:
        return "sharegpt"
    if "messages" in keys and isinstance(row["messages"], list):
        return "openai"
    if "prompt" in keys and "completion" in keys:
        return "trl_unpaired_preference" if "label" in keys and isinstance(row["label"], bool) \
            else "trl_prompt_completion"
    if "instruction" in keys and "output" in keys:
        return "alpaca"
    if "text" in keys and isinstance(row["text"], str):
        return "chat_text" if detect_template(row["text"]) else "trl_text"
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
                         "conversations (sharegpt), instruction/output (alpaca), instruction/response (dolly), "
                         "prompt/completion, prompt/chosen/rejected, input/preferred_output/non_preferred_output, "
                         "text, or a public dataset's shape (hh_rlhf, ultrafeedback, shp, helpsteer2, nectar, "
                         "oasst1); pass format= to force one", path=path, line=line)
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
    for i, t in enumerate(turns):
        if not isinstance(t, dict):
            raise ValueError(f"turn {i} must be an object with 'from' and 'value'")
        who, value = t.get("from", t.get("role")), t.get("value", t.get("content"))
        if who is None or ("value" not in t and "content" not in t):
            raise ValueError(f"turn {i} needs 'from' and 'value' (or 'role' and 'content')")
        who = who.lower() if isinstance(who, str) else who
        if who not in _SHAREGPT_ROLES:
            raise ValueError(f"unknown sharegpt role {who!r} in turn {i}; allowed: {', '.join(_SHAREGPT_ROLES)}")
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
            weight = int(t["weight"]) if _SHAREGPT_ROLES[who] == "assistant" and t.get("weight") in (0, 1) else None
            out.append(Message(role=_SHAREGPT_ROLES[who], content=value, weight=weight))
    return out


def _common_prefix(a: list[Message], b: list[Message]) -> int:
    """How many leading messages ``a`` and ``b`` share, backed off so the rest starts with an answer."""
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    while k > 0 and a[k - 1].role in ("assistant", "tool") and (k == len(a) or a[k].role not in ("assistant", "tool")):
        k -= 1
    return k


def _preference(row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str) -> Preference:
    """A TRL preference row, explicit (``prompt`` + final turns) or implicit (the prompt is the shared start)."""
    prompt, chosen, rejected = row.get("prompt"), row["chosen"], row["rejected"]
    if isinstance(chosen, str) and isinstance(rejected, str):
        meta["conversational"] = False
        if prompt is None:  # TRL's extract_prompt: the longest common start, without the space before the answer
            k = 0
            while k < min(len(chosen), len(rejected)) and chosen[k] == rejected[k]:
                k += 1
            if 0 < k < len(chosen) and chosen[k - 1] == " ":
                k -= 1
            prompt, chosen, rejected = chosen[:k], chosen[k:], rejected[k:]
        elif not isinstance(prompt, str):
            prompt = _msgs(prompt, "prompt")
        return Preference(id=rid, prompt=prompt, chosen=chosen, rejected=rejected, metadata=meta, provenance=prov)
    c, r = _msgs(chosen, "chosen"), _msgs(rejected, "rejected")
    meta["conversational"] = True
    k = _common_prefix(c, r) if c and c[0].role != "assistant" else 0
    if k:  # implicit prompt: chosen/rejected hold the whole conversation
        shared = c[:k]
        if prompt is not None:
            given = _msgs(prompt, "prompt")
            if [_content(m).strip() for m in given] != [_content(m).strip() for m in shared]:
                meta["prompt_field"] = prompt  # the row's own prompt differs from the shared conversation: kept
        return Preference(id=rid, prompt=shared, chosen=c[k:], rejected=r[k:], metadata=meta, provenance=prov)
    return Preference(id=rid, prompt=[] if prompt is None else prompt if isinstance(prompt, str) else _msgs(
        prompt, "prompt"), chosen=c, rejected=r, metadata=meta, provenance=prov)


def _is_preference(fmt: str) -> bool:
    return fmt in PREFERENCE_FORMATS or fmt in PUBLIC_PREFERENCE


def _row_meta(row: dict[str, Any], fmt: str) -> tuple[dict[str, Any], Provenance | None]:
    """The record metadata of a row: its format, its ``metadata``/``datamill`` objects, and every top-level
    field the format does not define (kept flat for lookups and in ``row_fields`` to write back)."""
    meta: dict[str, Any] = {"format": fmt}
    consumed = set(_NATIVE_KEYS.get(fmt, ())) | set(CONSUMED.get(fmt, ())) | set(_ALWAYS_KEYS)
    for key in _NATIVE_KEYS.get(fmt, ()):
        if key in _EXTRA_KEYS.get(fmt, ()) and key in row:
            meta[key] = row[key]
    if isinstance(row.get("metadata"), dict):
        meta.update(row["metadata"])
    prov = None
    dm = row.get("datamill")
    if isinstance(dm, dict):  # written by write_examples(keep_ids=True): lineage comes back
        if isinstance(dm.get("metadata"), dict):
            meta.update(dm["metadata"])
        if isinstance(dm.get("provenance"), dict):
            try:
                prov = Provenance.from_dict(dm["provenance"])
            except (TypeError, ValueError):
                prov = None
    extra = {k: v for k, v in row.items() if k not in consumed}
    if "label" in row and _is_preference(fmt):
        extra["label"] = row["label"]  # a preference has no label field: kept as a row field
    if extra:
        meta["row_fields"] = extra
        for k, v in extra.items():
            meta.setdefault(k, v)
    return meta, prov


def from_row(row: Any, fmt: str, *, source: str | None = None, line: int | None = None) -> Record:
    """One row of ``fmt`` as an Example or Preference; ValueError with the reason when it does not fit."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    if fmt in GROUPED:
        conv = next(iter(oasst_conversations([(source or "<row>", line or 0, row)])), None)
        if conv is None:
            raise ValueError(f"a {fmt} message row is one part of a tree with no answer on its own; read the "
                             "whole file (read_examples) to assemble the conversations")
        return conv
    meta, kept_prov = _row_meta(row, fmt)
    rid = str(row["id"]) if isinstance(row.get("id"), (str, int)) else ""
    prov = Provenance(source=source, line=line)
    if kept_prov is not None:
        kept_prov.extra = {**kept_prov.extra, "read_from": f"{source}:{line}"}
        prov = kept_prov
    label = None if _is_preference(fmt) or fmt == "trl_unpaired_preference" else row.get("label")
    rec = _from_row(row, fmt, meta, prov, rid)
    if label is not None and isinstance(rec, Example) and rec.label is None:
        rec.label = label
    return rec


def _from_row(row: dict[str, Any], fmt: str, meta: dict[str, Any], prov: Provenance, rid: str) -> Record:
    if fmt in PUBLIC_FORMATS:
        return public_from_row(row, fmt, meta, prov, rid)
    if fmt == "openai":
        return Example(id=rid, messages=_msgs(row["messages"], "messages"), metadata=meta, provenance=prov)
    if fmt == "sharegpt":
        key = _sharegpt_list(row) or "conversations"
        msgs = _sharegpt_msgs(row[key])
        if key != "conversations":
            meta["sharegpt_key"] = key
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
        return _preference(row, meta, prov, rid)
    if fmt == "openai_dpo":
        inp = row["input"]
        if not isinstance(inp, dict) or "messages" not in inp:
            raise ValueError("openai_dpo 'input' must be an object with 'messages'")
        for key in ("tools", "parallel_tool_calls"):
            if key in inp:
                meta[key] = inp[key]
        return Preference(id=rid, prompt=_msgs(inp["messages"], "messages"),
                          chosen=_msgs(row["preferred_output"], "preferred_output"),
                          rejected=_msgs(row["non_preferred_output"], "non_preferred_output"),
                          metadata=meta, provenance=prov)
    raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}", params="format")


def read_examples(source: Any, *, format: str = "auto", on_error: str = "raise",  # noqa: A002
                  quarantine: Any = None, split: str | None = None, tree_paths: str = "top",
                  keep_ties: bool = False) -> Iterator[Record]:
    """Stream a fine-tuning file (JSONL/Parquet/HF dataset) as Examples/Preferences.

    ``format="auto"`` detects it from the first rows (an error names the lines when formats mix).
    Rows that do not fit raise InputError naming file:line, or are quarantined. ``tree_paths`` says how
    oasst1 message trees flatten: ``"top"`` (the best-ranked reply at every turn, one conversation per
    tree) or ``"all"`` (every root-to-answer path). Pairs whose source states no preference (an arena
    tie, a preference strength of 0, answers rated all equal) are no training pairs: they are counted in
    the quarantine as ``no_preference`` and left out, or kept with ``metadata["no_preference"]`` saying
    why when ``keep_ties`` (annotators can still judge them).
    """
    from datamill.io import Quarantine

    q = quarantine if isinstance(quarantine, Quarantine) else Quarantine(quarantine)
    policy = ErrorPolicy(on_error, q)  # type: ignore[arg-type]
    if format != "auto" and format not in FORMATS:
        raise ConfigError(f"format must be 'auto' or one of {', '.join(FORMATS)}, got {format!r}", params="format")
    if tree_paths not in ("top", "all"):
        raise ConfigError(f"tree_paths must be 'top' or 'all', got {tree_paths!r}", params="tree_paths")
    fmt, forced = format, format != "auto"
    if fmt == "auto":
        sniff = ErrorPolicy("quarantine") if on_error == "quarantine" else policy  # a bad first line says so
        name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
        fmt = detect_format(((n, row) for _, n, row in iter_rows(source, policy=sniff, split=split)), path=name)
    if fmt in GROUPED:
        def bad(path: str, line: int, reason: str) -> None:
            policy.bad(path=path, line=line, kind="bad_example", reason=f"not a valid {fmt} row: {reason}")

        rows = ((path, n, row) for path, n, row in iter_rows(source, policy=policy, split=split)
                if _fits(row, fmt, path, n, policy, forced))
        yield from oasst_conversations(rows, paths=tree_paths, bad=bad)
    else:
        for path, n, row in iter_rows(source, policy=policy, split=split):
            if not _fits(row, fmt, path, n, policy, forced):
                continue
            try:
                rec = from_row(row, fmt, source=path, line=n)
                if NO_PREFERENCE in rec.metadata and not keep_ties:
                    q.add(path=path, line=n, kind="no_preference", raw=orjson.dumps(row, default=str),
                          reason=f"no preference: {rec.metadata[NO_PREFERENCE]}")
                    continue
                yield rec
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
                reason = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
                policy.bad(path=path, line=n, kind="bad_example", reason=f"not a valid {fmt} row: {reason}",
                           raw=orjson.dumps(row, default=str))
    if not isinstance(quarantine, Quarantine):
        q.close()


def _fits(row: Any, fmt: str, path: str, line: int, policy: ErrorPolicy, forced: bool = False) -> bool:
    """False (after telling the policy) when a row is not an object, or (format detected, not forced) is in
    another format than the file's."""
    got = format_of_row(row)
    if not forced and got is not None and got != fmt and not ({got, fmt} <= {"trl_text", "chat_text"}):
        policy.bad(path=path, line=line, kind="bad_example", reason=f"not a valid {fmt} row: row looks like {got}, "
                   f"but the file is {fmt}", raw=orjson.dumps(row, default=str))
        return False
    if not isinstance(row, dict):
        policy.bad(path=path, line=line, kind="bad_example", reason=f"not a valid {fmt} row: expected a JSON object, "
                   f"got {type(row).__name__}", raw=orjson.dumps(row, default=str))
        return False
    return True


def as_example(rec: Record) -> Example:
    """An Example of any fine-tuning record: a preference pair is its prompt and its chosen answer."""
    if isinstance(rec, Example):
        return rec
    if isinstance(rec, Preference):
        return Example(id=rec.id, messages=_as_msgs(rec.prompt, "user") + _as_msgs(rec.chosen, "assistant"),
                       metadata=rec.metadata, provenance=rec.provenance)
    raise ValueError(f"a {rec.type_name} record is not a fine-tuning example")


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


def to_row(rec: Record, fmt: str, *, keep_ids: bool = False, dropped: Counter[str] | None = None) -> dict[str, Any]:
    """One record as a row of ``fmt``; ValueError when the record cannot be expressed in it.

    The row fields the record was read with beyond its format's own (``metadata["row_fields"]``) and its
    ``label`` are written back, except into OpenAI rows converted from another format (OpenAI's
    fine-tuning files take only its keys): those are counted in ``dropped``.
    """
    row = _to_row(rec, fmt)
    if isinstance(rec, Preference) and fmt not in PREFERENCE_FORMATS and dropped is not None:
        dropped["rejected"] += 1  # a pair written as an SFT row keeps the prompt and the chosen answer
    extra = dict(rec.metadata.get("row_fields") or {})
    if isinstance(rec, Example) and rec.label is not None and fmt != "trl_unpaired_preference":
        extra["label"] = rec.label
    if extra:
        if fmt in ("openai", "openai_dpo") and rec.metadata.get("format") != fmt:
            if dropped is not None:
                dropped.update(k for k in extra if k not in row)
        else:
            for k, v in extra.items():
                row.setdefault(k, v)
    if keep_ids:
        row["id"] = rec.id
        row["datamill"] = {"provenance": rec.provenance.to_dict(),
                           "metadata": {k: v for k, v in rec.metadata.items() if k not in _EXTRA_KEYS.get(fmt, ())}}
    return row


def _to_row(rec: Record, fmt: str) -> dict[str, Any]:
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
        else:  # an SFT format: the prompt and the chosen answer (what "SFT on chosen" trains on)
            return _to_row(Example(messages=_as_msgs(rec.prompt, "user") + _as_msgs(rec.chosen, "assistant"),
                                   metadata=meta), fmt)
    elif isinstance(rec, Example):
        if rec.messages is None:
            if fmt not in ("trl_text", "chat_text"):
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
            elif fmt == "chat_text":
                row = {"text": render_chatml(msgs)}
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
    return row


def write_examples(records: Iterable[Record], path: str | os.PathLike[str], *, format: str = "openai",  # noqa: A002
                   keep_ids: bool = False, dropped: Counter[str] | None = None) -> int:
    """Write Examples/Preferences as ``format`` rows to JSONL (.gz/.zst), Parquet, or an HF folder.

    ``keep_ids`` adds each record's ``id`` and a ``datamill`` column (provenance + metadata) so
    lineage survives the export; training APIs ignore extra keys only sometimes, so it is opt-in.
    ``dropped`` counts the row fields left out (see :func:`to_row`).
    """
    from datamill.io import write_records

    if format not in WRITABLE:
        raise ConfigError(f"format must be one of {', '.join(WRITABLE)}, got {format!r}"
                          + (" (a public dataset's shape is read, not written)" if format in FORMATS else ""))

    def rows() -> Iterator[dict[str, Any]]:
        for rec in records:
            try:
                yield to_row(rec, format, keep_ids=keep_ids, dropped=dropped)
            except ValueError as exc:
                where = f"{rec.provenance.source}:{rec.provenance.line}: " if rec.provenance.source else ""
                raise InputError(f"{where}record {rec.id}: {exc}") from None

    return write_records(rows(), path)


@dataclass
class ConvertResult:
    """What :func:`convert` wrote and what it could not carry over."""

    written: int
    dropped_fields: Counter[str] = field(default_factory=Counter)
    unpaired: int = 0  # ties and prompts with a single answer: no training pair

    def __int__(self) -> int:
        return self.written


def convert(src: Any, dst: str | os.PathLike[str], *, to: str, format: str = "auto",  # noqa: A002
            keep_ids: bool = False, on_error: str = "raise", quarantine: Any = None, tree_paths: str = "top",
            pair_score: str = "helpfulness") -> ConvertResult:
    """Read ``src`` in any (or the given) format and write ``dst`` as ``to``.

    ``on_error="quarantine"`` sets malformed rows aside in ``quarantine`` (a path or a
    :class:`~datamill.io.Quarantine`) instead of stopping at the first. Into a preference format, answers
    rated one per row (HelpSteer2) are paired by prompt on ``pair_score`` (best against worst); prompts
    with one answer or only tied answers make no pair: counted (``unpaired``) and set aside in the
    quarantine as ``no_preference``, like ties read from preference sets.
    """
    from datamill.io import Quarantine

    q = quarantine if isinstance(quarantine, Quarantine) else Quarantine(quarantine)
    try:
        result = ConvertResult(written=0)
        recs: Iterable[Record] = read_examples(src, format=format, on_error=on_error, quarantine=q,
                                               tree_paths=tree_paths)
        if to in PREFERENCE_FORMATS:
            def unpaired(rec: Record, reason: str) -> None:
                q.add(path=rec.provenance.source or "<input>", line=rec.provenance.line, kind="no_preference",
                      reason=reason)

            recs = pair_by_prompt(recs, score=pair_score, bad=unpaired)
        result.written = write_examples(recs, dst, format=to, keep_ids=keep_ids, dropped=result.dropped_fields)
        result.unpaired = q.counts["no_preference"]
        return result
    finally:
        if not isinstance(quarantine, Quarantine):
            q.close()

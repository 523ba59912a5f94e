"""One row and one record: the fine-tuning formats' rows as datamill records, and records as rows.

One idea, both directions of every native format (and the dispatch to the public shapes), so past the
house's ~450 lines (about 600): split by direction, each half would have to know every format's keys again.

:mod:`datamill.finetune.formats` reads and writes whole files with these; the formats themselves are
described there, the public datasets' shapes in :mod:`datamill.finetune.public`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from datamill.errors import ConfigError
from datamill.finetune.chat_text import detect_template, render_chatml
from datamill.finetune.grouped import oasst_conversations
from datamill.finetune.public import (
    CONSUMED,
    GROUPED,
    PUBLIC_FORMATS,
    PUBLIC_PREFERENCE,
    detect_public,
    public_from_row,
)
from datamill.records import Example, Message, Preference, Provenance, Record

__all__ = [
    "FORMATS",
    "NATIVE_FORMATS",
    "PREFERENCE_FORMATS",
    "WRITABLE",
    "as_example",
    "format_of_row",
    "from_row",
    "to_row",
    "write_format",
]

NATIVE_FORMATS = (
    "openai",
    "openai_dpo",
    "sharegpt",
    "alpaca",
    "trl_text",
    "trl_prompt_completion",
    "trl_preference",
    "trl_unpaired_preference",
)
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
_SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "prompter": "user",
    "developer": "system",
    "ipython": "tool",
}
_SHAREGPT_LISTS = ("conversations", "conversation", "messages")
_NATIVE_KEYS = {
    "openai": ("messages", "tools", "parallel_tool_calls", "functions"),
    "openai_dpo": ("input", "preferred_output", "non_preferred_output"),
    "sharegpt": (*_SHAREGPT_LISTS, "system", "tools"),
    "alpaca": ("instruction", "input", "output", "system", "history"),
    "trl_text": ("text",),
    "trl_prompt_completion": ("prompt", "completion"),
    "trl_preference": ("prompt", "chosen", "rejected"),
    "trl_unpaired_preference": ("prompt", "completion", "label"),
}
_ALWAYS_KEYS = ("id", "metadata", "datamill", "label")
_TO_SHAREGPT = {
    "system": "system",
    "user": "human",
    "assistant": "gpt",
    "tool": "observation",
    "function": "observation",
    "developer": "system",
}
_EXTRA_KEYS = {
    "openai": ("tools", "parallel_tool_calls", "functions"),
    "sharegpt": ("system", "tools"),
    "alpaca": ("system", "history"),
}


def _sharegpt_list(row: dict[str, Any]) -> str | None:
    """The key holding a ShareGPT-style turn list (``from``/``value`` turns, or ``role``/``content`` turns
    under ``conversations``/``conversation``), or None."""
    for key in _SHAREGPT_LISTS:
        turns = row.get(key)
        if (
            isinstance(turns, list)
            and turns
            and isinstance(turns[0], dict)
            and ("from" in turns[0] or key != "messages" and "role" in turns[0])
        ):
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
        return (
            "trl_unpaired_preference"
            if "label" in keys and isinstance(row["label"], bool)
            else "trl_prompt_completion"
        )
    if "instruction" in keys and "output" in keys:
        return "alpaca"
    if "text" in keys and isinstance(row["text"], str):
        return "chat_text" if detect_template(row["text"]) else "trl_text"
    return None


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
            raise ValueError(
                f"unknown sharegpt role {who!r} in turn {i}; allowed: {', '.join(_SHAREGPT_ROLES)}"
            )
        if who == "function_call":
            call = orjson.loads(value) if isinstance(value, str) else value
            calls = call if isinstance(call, list) else [call]
            out.append(
                Message(
                    role="assistant",
                    tool_calls=[
                        {
                            "id": c.get("id", f"call_{len(out)}_{i}"),
                            "type": "function",
                            "function": {
                                "name": c.get("name"),
                                "arguments": c.get("arguments")
                                if isinstance(c.get("arguments"), str)
                                else orjson.dumps(c.get("arguments", {})).decode(),
                            },
                        }
                        for i, c in enumerate(calls)
                    ],
                )
            )
        elif _SHAREGPT_ROLES[who] == "tool":
            prev = next((m for m in reversed(out) if m.tool_calls), None)
            call_id = t.get("tool_call_id") or (
                prev.tool_calls[0]["id"] if prev and prev.tool_calls else None
            )
            out.append(Message(role="tool", content=value, tool_call_id=call_id))
        else:
            weight = (
                int(t["weight"])
                if _SHAREGPT_ROLES[who] == "assistant" and t.get("weight") in (0, 1)
                else None
            )
            out.append(Message(role=_SHAREGPT_ROLES[who], content=value, weight=weight))
    return out


def _common_prefix(a: list[Message], b: list[Message]) -> int:
    """How many leading messages ``a`` and ``b`` share, backed off so the rest starts with an answer."""
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    while (
        k > 0
        and a[k - 1].role in ("assistant", "tool")
        and (k == len(a) or a[k].role not in ("assistant", "tool"))
    ):
        k -= 1
    return k


def _preference(row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str) -> Preference:
    """A TRL preference row, explicit (``prompt`` + final turns) or implicit (the prompt is the shared start)."""
    prompt, chosen, rejected = row.get("prompt"), row["chosen"], row["rejected"]
    if isinstance(chosen, str) and isinstance(rejected, str):
        meta["conversational"] = False
        if (
            prompt is None
        ):  # TRL's extract_prompt: the longest common start, without the space before the answer
            k = 0
            while k < min(len(chosen), len(rejected)) and chosen[k] == rejected[k]:
                k += 1
            if 0 < k < len(chosen) and chosen[k - 1] == " ":
                k -= 1
            prompt, chosen, rejected = chosen[:k], chosen[k:], rejected[k:]
        elif not isinstance(prompt, str):
            prompt = _msgs(prompt, "prompt")
        return Preference(
            id=rid, prompt=prompt, chosen=chosen, rejected=rejected, metadata=meta, provenance=prov
        )
    c, r = _msgs(chosen, "chosen"), _msgs(rejected, "rejected")
    meta["conversational"] = True
    k = _common_prefix(c, r) if c and c[0].role != "assistant" else 0
    if k:  # implicit prompt: chosen/rejected hold the whole conversation
        shared = c[:k]
        if prompt is not None:
            given = _msgs(prompt, "prompt")
            if [m.text.strip() for m in given] != [m.text.strip() for m in shared]:
                meta["prompt_field"] = (
                    prompt  # the row's own prompt differs from the shared conversation: kept
                )
        return Preference(id=rid, prompt=shared, chosen=c[k:], rejected=r[k:], metadata=meta, provenance=prov)
    return Preference(
        id=rid,
        prompt=[] if prompt is None else prompt if isinstance(prompt, str) else _msgs(prompt, "prompt"),
        chosen=c,
        rejected=r,
        metadata=meta,
        provenance=prov,
    )


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


def from_row(
    row: Any, fmt: str, *, source: str | None = None, line: int | None = None, record_id: str | None = None
) -> Record:
    """One row of ``fmt`` as an Example or Preference; ValueError with the reason when it does not fit.

    The record's id is ``record_id`` when given, else the row's ``id``, else a hash of its content.
    """
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    if fmt in GROUPED:
        conv = next(iter(oasst_conversations([(source or "<row>", line or 0, row)])), None)
        if conv is None:
            raise ValueError(
                f"a {fmt} message row is one part of a tree with no answer on its own; read the "
                "whole file (read_examples) to assemble the conversations"
            )
        return conv
    meta, kept_prov = _row_meta(row, fmt)
    rid = str(row["id"]) if isinstance(row.get("id"), (str, int)) else ""
    rid = record_id if record_id is not None else rid
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
        return Preference(
            id=rid,
            prompt=_msgs(inp["messages"], "messages"),
            chosen=_msgs(row["preferred_output"], "preferred_output"),
            rejected=_msgs(row["non_preferred_output"], "non_preferred_output"),
            metadata=meta,
            provenance=prov,
        )
    raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}", params="format")


def as_example(rec: Record) -> Example:
    """An Example of any fine-tuning record: a preference pair is its prompt and its chosen answer."""
    if isinstance(rec, Example):
        return rec
    if isinstance(rec, Preference):
        return Example(
            id=rec.id,
            messages=_as_msgs(rec.prompt, "user") + _as_msgs(rec.chosen, "assistant"),
            metadata=rec.metadata,
            provenance=rec.provenance,
        )
    raise ValueError(f"a {rec.type_name} record is not a fine-tuning example")


# -- records -> rows -------------------------------------------------------------------------------


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
            calls = [
                {"name": c["function"]["name"], "arguments": c["function"]["arguments"], "id": c.get("id")}
                for c in m.tool_calls
            ]
            turns.append(
                {
                    "from": "function_call",
                    "value": orjson.dumps(calls[0] if len(calls) == 1 else calls).decode(),
                }
            )
        elif m.role == "assistant" and m.function_call:
            turns.append({"from": "function_call", "value": orjson.dumps(m.function_call).decode()})
        else:
            turn = {"from": _TO_SHAREGPT[m.role], "value": m.text}
            turns.append(turn)
    return turns


def to_row(
    rec: Record, fmt: str, *, keep_ids: bool = False, dropped: Counter[str] | None = None
) -> dict[str, Any]:
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
        row["datamill"] = {
            "provenance": rec.provenance.to_dict(),
            "metadata": {k: v for k, v in rec.metadata.items() if k not in _EXTRA_KEYS.get(fmt, ())},
        }
    return row


def _to_row(rec: Record, fmt: str) -> dict[str, Any]:
    if isinstance(rec, Preference):
        if fmt in PREFERENCE_FORMATS:
            return _preference_row(rec, fmt)
        # an SFT format: the prompt and the chosen answer (what "SFT on chosen" trains on)
        msgs = _as_msgs(rec.prompt, "user") + _as_msgs(rec.chosen, "assistant")
        return _to_row(Example(messages=msgs, metadata=rec.metadata), fmt)
    if isinstance(rec, Example):
        if rec.messages is None:
            if fmt not in ("trl_text", "chat_text"):
                raise ValueError(f"a text-only example can only be written as trl_text, not {fmt}")
            return {"text": rec.input or ""}
        return _example_row(rec, rec.messages, fmt)
    raise ValueError(f"cannot write a {rec.type_name} record as a fine-tuning row")


def _preference_row(rec: Preference, fmt: str) -> dict[str, Any]:
    if fmt == "openai_dpo":
        inp: dict[str, Any] = {"messages": [m.to_dict() for m in _as_msgs(rec.prompt, "user")]}
        if "tools" in rec.metadata:
            inp["tools"] = rec.metadata["tools"]
        return {
            "input": inp,
            "preferred_output": [m.to_dict() for m in _as_msgs(rec.chosen, "assistant")],
            "non_preferred_output": [m.to_dict() for m in _as_msgs(rec.rejected, "assistant")],
        }
    if not isinstance(rec.chosen, str):  # trl_preference, conversational
        return {
            "prompt": [m.to_dict() for m in _as_msgs(rec.prompt, "user")],
            "chosen": [m.to_dict() for m in _as_msgs(rec.chosen, "assistant")],
            "rejected": [m.to_dict() for m in _as_msgs(rec.rejected, "assistant")],
        }
    prompt = rec.prompt if isinstance(rec.prompt, str) else "\n\n".join(m.text for m in rec.prompt)
    return {"prompt": prompt, "chosen": rec.chosen, "rejected": rec.rejected}


def _example_row(rec: Example, msgs: list[Message], fmt: str) -> dict[str, Any]:
    meta = rec.metadata
    row: dict[str, Any]
    if fmt == "openai":
        row = {"messages": [m.to_dict() for m in msgs]}
        row.update({key: meta[key] for key in _EXTRA_KEYS["openai"] if key in meta})
    elif fmt == "sharegpt":
        row = {"conversations": _sharegpt_turns(msgs)}
        if "tools" in meta:
            row["tools"] = meta["tools"]
    elif fmt == "alpaca":
        row = _alpaca_row(msgs, meta)
    elif fmt == "trl_text":
        row = {"text": "\n\n".join(m.text for m in msgs)}
    elif fmt == "chat_text":
        row = {"text": render_chatml(msgs)}
    elif fmt in ("trl_prompt_completion", "trl_unpaired_preference"):
        prompt, completion = _split_prompt(msgs)
        conv = meta.get(
            "conversational", len(prompt) != 1 or prompt[0].role != "user" or len(completion) != 1
        )
        if conv:
            row = {"prompt": [m.to_dict() for m in prompt], "completion": [m.to_dict() for m in completion]}
        else:
            row = {"prompt": prompt[0].text, "completion": completion[0].text}
        if fmt == "trl_unpaired_preference":
            if not isinstance(rec.label, bool):
                raise ValueError("trl_unpaired_preference needs a true/false label")
            row["label"] = rec.label
    else:
        raise ValueError(f"an example cannot be written as {fmt}; use one of the supervised formats")
    return row


def _alpaca_row(msgs: list[Message], meta: dict[str, Any]) -> dict[str, Any]:
    system = [m.text for m in msgs if m.role == "system"]
    rest = [m for m in msgs if m.role != "system"]
    alternating = all(
        m.role == ("user" if i % 2 == 0 else "assistant") and not m.tool_calls for i, m in enumerate(rest)
    )
    if len(rest) < 2 or len(rest) % 2 or not alternating:
        raise ValueError("alpaca needs alternating user/assistant turns without tool calls")
    *hist, (last_user, last_asst) = [(rest[i], rest[i + 1]) for i in range(0, len(rest), 2)]
    orig = meta.get("alpaca") or {}
    user = last_user.text
    if orig and orig.get("instruction", "") + ("\n\n" + orig["input"] if orig.get("input") else "") == user:
        row = {"instruction": orig["instruction"], "input": orig.get("input", "")}
    else:
        row = {"instruction": user, "input": ""}
    row["output"] = last_asst.text
    if system:
        row["system"] = "\n\n".join(system)
    if hist:
        row["history"] = [[u.text, a.text] for u, a in hist]
    return row

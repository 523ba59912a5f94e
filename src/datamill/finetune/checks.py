"""The checks :func:`datamill.finetune.validate` runs, row by row: each named in :data:`CHECKS` with its
severity, raw on ``openai``/``openai_dpo`` rows (OpenAI's data-preparation rules) and on every row once it
is a record (the shared rules). A check that fires calls ``hit(name, line)``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import xxhash

from datamill.finetune.formats import format_of_row, from_row
from datamill.records import Example, Message, Preference, Record

__all__ = [
    "CHECKS",
    "CheckResult",
    "check_openai_dpo_row",
    "check_openai_row",
    "check_record",
    "check_row",
    "check_system_prompts",
    "row_format_ok",
    "system_prompt",
]

Severity = Literal["error", "warning"]
_MAX_LINES = 20
_MSG_KEYS = {"role", "content", "name", "function_call", "weight", "tool_calls", "tool_call_id", "refusal"}
_ROLES = {"system", "developer", "user", "assistant", "function", "tool"}
_EXAMPLE_KEYS = {"messages", "tools", "parallel_tool_calls", "functions", "id", "metadata", "datamill"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")

# name -> (severity, what it means)
CHECKS: dict[str, tuple[Severity, str]] = {
    "empty_file": ("error", "the file holds no rows"),
    "invalid_json": ("error", "line is not valid JSON"),
    "invalid_utf8": ("error", "line is not valid UTF-8"),
    "line_too_long": ("error", "line is longer than the reader's limit"),
    "data_type": ("error", "row is not a JSON object"),
    "unknown_format": ("error", "row matches no fine-tuning format"),
    "mixed_format": ("error", "row is in another format than the rest of the file"),
    "bad_row": ("error", "row does not fit its format (wrong types or missing fields)"),
    "missing_messages_list": ("error", "no 'messages' list, or it is empty"),
    "message_missing_key": ("error", "a message lacks 'role', or lacks 'content' with no tool/function call"),
    "message_unrecognized_key": ("error", "a message has a key OpenAI does not accept"),
    "unrecognized_role": ("error", "a message role is not system/developer/user/assistant/tool/function"),
    "missing_content": ("error", "a message's content is empty or not text"),
    "example_missing_assistant_message": ("error", "no assistant message to learn from"),
    "invalid_weight": ("error", "an assistant 'weight' is not 0 or 1"),
    "tool_call_mismatch": ("error", "a tool message answers no earlier tool call id"),
    "invalid_tool_arguments": ("error", "tool/function call arguments are not a JSON object string"),
    "unknown_tool": ("error", "a tool call names a function not in the example's 'tools'"),
    "dpo_missing_input": ("error", "an openai_dpo row has no input messages"),
    "dpo_last_input_not_user": ("error", "the last input message of an openai_dpo row is not from the user"),
    "dpo_output_not_single_assistant": (
        "error",
        "preferred/non_preferred output is not one assistant message",
    ),
    "empty_output": ("error", "the output (final assistant message, completion, chosen/rejected) is empty"),
    "identical_pair": ("error", "chosen and rejected are the same"),
    "over_token_limit": ("warning", "example is longer than --max-tokens (it will be truncated)"),
    "duplicate_example": ("warning", "same example as an earlier line"),
    "bad_alternation": ("warning", "user and assistant turns do not alternate"),
    "system_prompt_inconsistent": ("warning", "system prompt differs from the one most examples use"),
    "label_leakage": ("warning", "the expected output appears verbatim in the input"),
    "control_characters": ("warning", "text holds control characters or U+FFFD replacement characters"),
    "unrecognized_example_key": ("warning", "the row has a top-level key the format does not define"),
}


@dataclass
class CheckResult:
    name: str
    severity: Severity
    description: str
    count: int = 0
    lines: list[int] = field(default_factory=list)

    def hit(self, line: int) -> None:
        self.count += 1
        if len(self.lines) < _MAX_LINES:
            self.lines.append(line)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "severity": self.severity,
            "count": self.count,
            "lines": self.lines,
            "description": self.description,
        }


def check_openai_row(row: dict[str, Any], line: int, hit) -> None:  # type: ignore[no-untyped-def]
    """The OpenAI guide's format checks, on the raw row (before any conversion)."""
    for key in row:
        if key not in _EXAMPLE_KEYS:
            hit("unrecognized_example_key", line)
            break
    messages = row.get("messages")
    if not messages or not isinstance(messages, list):
        hit("missing_messages_list", line)
        return
    tool_names = None
    if isinstance(row.get("tools"), list):
        tool_names = {t.get("function", {}).get("name") for t in row["tools"] if isinstance(t, dict)}
    call_ids: set[str] = set()
    flags: set[str] = set()
    has_assistant = False
    for m in messages:
        if not isinstance(m, dict):
            flags.add("message_missing_key")
            continue
        role = m.get("role")
        calls = m.get("tool_calls")
        fcall = m.get("function_call")
        if "role" not in m or ("content" not in m and not calls and not fcall):
            flags.add("message_missing_key")
        if any(k not in _MSG_KEYS for k in m):
            flags.add("message_unrecognized_key")
        if role not in _ROLES:
            flags.add("unrecognized_role")
        content = m.get("content")
        if (not content and not calls and not fcall) or not isinstance(content, (str, list, type(None))):
            flags.add("missing_content")
        if role == "assistant":
            has_assistant = True
            if "weight" in m and m["weight"] not in (0, 1):
                flags.add("invalid_weight")
        for call in ([fcall] if isinstance(fcall, dict) else []) + [
            c.get("function", {}) for c in calls or [] if isinstance(c, dict)
        ]:
            args = call.get("arguments")
            try:
                if not isinstance(orjson.loads(args), dict):
                    raise ValueError
            except (TypeError, ValueError, orjson.JSONDecodeError):
                flags.add("invalid_tool_arguments")
            if tool_names is not None and call.get("name") not in tool_names:
                flags.add("unknown_tool")
        for c in calls or []:
            if isinstance(c, dict) and c.get("id"):
                call_ids.add(c["id"])
        if role == "tool" and m.get("tool_call_id") not in call_ids:
            flags.add("tool_call_mismatch")
    if not has_assistant:
        flags.add("example_missing_assistant_message")
    for f in flags:
        hit(f, line)


def check_openai_dpo_row(row: dict[str, Any], line: int, hit) -> None:  # type: ignore[no-untyped-def]
    """OpenAI's rules for DPO rows: input messages ending with the user, one assistant message per output."""
    inp = row.get("input")
    messages = inp.get("messages") if isinstance(inp, dict) else None
    if not messages or not isinstance(messages, list):
        hit("dpo_missing_input", line)
    elif not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
        hit("dpo_last_input_not_user", line)
    for key in ("preferred_output", "non_preferred_output"):
        out = row.get(key)
        if not (
            isinstance(out, list)
            and len(out) == 1
            and isinstance(out[0], dict)
            and out[0].get("role") == "assistant"
        ):
            hit("dpo_output_not_single_assistant", line)
            break


def _turns(msgs: list[Message]) -> list[str]:
    """User/assistant turns; an assistant's tool call, the tool results and the answer after them are one turn."""
    turns: list[str] = []
    after_tool = False
    for m in msgs:
        if m.role == "tool" or m.role == "function":
            after_tool = True
            continue
        if m.role == "assistant" and after_tool and turns and turns[-1] == "assistant":
            after_tool = False
            continue
        if m.role in ("user", "assistant"):
            turns.append(m.role)
            after_tool = False
    return turns


def check_record(rec: Record, line: int, hit) -> None:  # type: ignore[no-untyped-def]
    """Quality checks every format shares, on the converted record."""
    texts: list[str] = []
    if isinstance(rec, Preference):
        chosen = rec.chosen if isinstance(rec.chosen, str) else "".join(m.text for m in rec.chosen)
        rejected = rec.rejected if isinstance(rec.rejected, str) else "".join(m.text for m in rec.rejected)
        prompt = rec.prompt if isinstance(rec.prompt, str) else "\n".join(m.text for m in rec.prompt)
        if not chosen.strip() or not rejected.strip():
            hit("empty_output", line)
        elif chosen.strip() == rejected.strip():
            hit("identical_pair", line)
        texts = [prompt, chosen, rejected]
    elif isinstance(rec, Example):
        if rec.messages is None:
            texts = [rec.input or ""]
            if not texts[0].strip():
                hit("empty_output", line)
        else:
            msgs = rec.messages
            texts = [m.text for m in msgs]
            last = next((m for m in reversed(msgs) if m.role == "assistant"), None)
            if last is not None and not last.text.strip() and not last.tool_calls and not last.function_call:
                hit("empty_output", line)
            turns = _turns(msgs)
            if any(a == b for a, b in zip(turns, turns[1:], strict=False)) or (turns and turns[0] != "user"):
                hit("bad_alternation", line)
            if last is not None:
                out = last.text.strip()
                inputs = "\n".join(m.text for m in msgs if m.role in ("user", "system"))
                if len(out) >= 20 and out in inputs:
                    hit("label_leakage", line)
    if any(_CONTROL.search(t) for t in texts):
        hit("control_characters", line)


def system_prompt(rec: Record) -> str | None:
    msgs = (
        rec.messages
        if isinstance(rec, Example)
        else (rec.prompt if isinstance(rec, Preference) and not isinstance(rec.prompt, str) else None)
    )
    if not msgs:
        return None
    return next((m.text for m in msgs if m.role == "system"), "")


def row_format_ok(row: Any, line: int, fmt: str | None, hit: Callable[[str, int], None]) -> bool:
    """Whether ``row`` is an object of the file's format (else the reason is counted)."""
    if not isinstance(row, dict):
        hit("data_type", line)
        return False
    got = format_of_row(row)
    if got is None or fmt is None:
        hit("unknown_format", line)
        return False
    if got != fmt and {got, fmt} != {"trl_text", "chat_text"}:  # one family: parsed as the file's
        hit("mixed_format", line)
        return False
    return True


def check_row(
    line: int, row: Any, fmt: str | None, path: str, hit: Callable[[str, int], None]
) -> tuple[Record, bytes] | None:
    """One row of a flat format checked raw and as a record: the record and its duplicate key, or None."""
    if not row_format_ok(row, line, fmt, hit):
        return None
    assert fmt is not None
    if fmt == "openai":
        check_openai_row(row, line, hit)
    elif fmt == "openai_dpo":
        check_openai_dpo_row(row, line, hit)
    try:  # the id is never shown: the line stands in for the content hash a record would compute
        rec = from_row(row, fmt, source=path, line=line, record_id=str(line))
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        if fmt not in ("openai", "openai_dpo"):  # already diagnosed by OpenAI's checks
            hit("bad_row", line)
        return None
    check_record(rec, line, hit)
    return rec, xxhash.xxh3_128_digest(orjson.dumps(row, option=orjson.OPT_SORT_KEYS))


def check_system_prompts(
    lines: list[int], systems: list[str | None], hit: Callable[[str, int], None]
) -> None:
    """Flag the examples whose system prompt differs from the most common one."""
    with_system = [s for s in systems if s is not None]
    if with_system:
        common = Counter(with_system).most_common(1)[0][0]
        for line, s in zip(lines, systems, strict=True):
            if s is not None and s != common:
                hit("system_prompt_inconsistent", line)

"""Validate a fine-tuning file before paying for training.

Every check of OpenAI's chat fine-tuning data-preparation guide (data type, missing messages list,
message missing keys, unrecognised message keys, unrecognised role, missing content, no assistant
message, invalid weight) plus tool/function-call consistency, empty outputs, duplicates, turn
alternation, system-prompt consistency, token limit, label leakage, invalid UTF-8, control
characters, broken JSON, and mixed formats. Errors would make a training job fail or train on
garbage; warnings deserve a look. Token statistics and the billed-token estimate come with it.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import xxhash

from datamill.errors import ConfigError
from datamill.finetune.formats import FORMATS, format_of_row, from_row, iter_rows
from datamill.finetune.grouped import oasst_conversations
from datamill.finetune.public import GROUPED
from datamill.finetune.stats import TokenStats, _check_billing, count_example_tokens, token_stats
from datamill.io import ErrorPolicy, Quarantine
from datamill.records import Example, Message, Preference, Record
from datamill.tokens import get_tokenizer

__all__ = ["CHECKS", "CheckResult", "ValidationReport", "validate"]

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


@dataclass
class ValidationReport:
    """Per-check counts with example line numbers, and token statistics."""

    path: str
    format: str | None
    rows: int
    checks: dict[str, CheckResult]
    tokens: TokenStats | None = None

    @property
    def errors(self) -> int:
        return sum(c.count for c in self.checks.values() if c.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(c.count for c in self.checks.values() if c.severity == "warning")

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks.values() if c.count]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "rows": self.rows,
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
            "checks": [c.to_dict() for c in self.failed()],
            "tokens": self.tokens.to_dict() if self.tokens else None,
        }


def _check_openai_row(row: dict[str, Any], line: int, hit) -> None:  # type: ignore[no-untyped-def]
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


def _check_openai_dpo_row(row: dict[str, Any], line: int, hit) -> None:  # type: ignore[no-untyped-def]
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


def _check_record(rec: Record, line: int, hit) -> None:  # type: ignore[no-untyped-def]
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


def _system_prompt(rec: Record) -> str | None:
    msgs = (
        rec.messages
        if isinstance(rec, Example)
        else (rec.prompt if isinstance(rec, Preference) and not isinstance(rec.prompt, str) else None)
    )
    if not msgs:
        return None
    return next((m.text for m in msgs if m.role == "system"), "")


def validate(
    source: str | os.PathLike[str],
    *,
    format: str = "auto",
    max_tokens: int = 16385,  # noqa: A002
    tokenizer: str = "cl100k_base",
    count_tokens: bool = True,
    epochs: int | None = None,
    price_per_million: float | None = None,
    chat_template: str | None = None,
) -> ValidationReport:
    """Validate a fine-tuning file (JSONL, Parquet or HF dataset; any supported format); never raises on bad rows.

    Rows are checked raw (OpenAI's rules on ``openai`` rows) and after conversion (shared rules).
    """
    if format != "auto" and format not in FORMATS:
        raise ConfigError(
            f"format must be 'auto' or one of {', '.join(FORMATS)}, got {format!r}", params="format"
        )
    _check_billing(max_tokens=max_tokens, epochs=epochs, price_per_million=price_per_million)
    path = os.fspath(source)
    checks = {name: CheckResult(name, sev, desc) for name, (sev, desc) in CHECKS.items()}

    def hit(name: str, line: int) -> None:
        checks[name].hit(line)

    quarantine = Quarantine()
    rows: list[tuple[int, Any]] = [
        (n, row) for _, n, row in iter_rows(source, policy=ErrorPolicy("quarantine", quarantine))
    ]
    for entry in quarantine.entries:
        kind = entry["kind"]
        hit(kind if kind in checks else "invalid_json", entry["line"])
    fmt = format
    if fmt == "auto":
        kinds = Counter(f for f in (format_of_row(r) for _, r in rows) if f is not None)
        fmt = kinds.most_common(1)[0][0] if kinds else None  # type: ignore[assignment]
    workers = _scan_workers(rows, fmt, chat_template)
    if workers > 1:
        lines, systems, counts = _scan_parallel(
            rows, fmt, path, hit, tokenizer if count_tokens else None, workers
        )
    else:
        records = _checked_records(rows, fmt, path, hit)
        lines, systems = [line for line, _ in records], [_system_prompt(r) for _, r in records]
        counts = (
            count_example_tokens([r for _, r in records], tokenizer=tokenizer, chat_template=chat_template)
            if count_tokens and records
            else None
        )
    _check_system_prompts(lines, systems, hit)
    stats = None
    if counts:
        for line, n in zip(lines, counts, strict=True):
            if n > max_tokens:
                hit("over_token_limit", line)
        stats = token_stats(
            counts,
            max_tokens=max_tokens,
            epochs=epochs,
            price_per_million=price_per_million,
            tokenizer=chat_template or tokenizer,
        )
    return ValidationReport(
        path=path, format=fmt, rows=len(rows) + quarantine.total, checks=checks, tokens=stats
    )


def _checked_records(
    rows: list[tuple[int, Any]], fmt: str | None, path: str, hit: Callable[[str, int], None]
) -> list[tuple[int, Record]]:
    """Each row of format ``fmt`` checked raw and as a record (grouped formats assembled first); the records
    with their lines. Rows that are no object, of another format or unreadable are only counted."""
    records: list[tuple[int, Record]] = []
    seen: dict[bytes, int] = {}
    grouped: list[tuple[str, int, Any]] = []
    for line, row in rows:
        if fmt in GROUPED:  # rows are parts of trees: assembled below
            if _row_format_ok(row, line, fmt, hit):
                grouped.append((path, line, row))
            continue
        got = _check_row(line, row, fmt, path, hit)
        if got is None:
            continue
        rec, key = got
        if key in seen:
            hit("duplicate_example", line)
        else:
            seen[key] = line
        records.append((line, rec))
    if grouped:
        for rec in oasst_conversations(grouped, bad=lambda _p, line, _r: hit("bad_row", line)):
            line = rec.provenance.line or 0
            _check_record(rec, line, hit)
            records.append((line, rec))
    return records


def _row_format_ok(row: Any, line: int, fmt: str | None, hit: Callable[[str, int], None]) -> bool:
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


def _check_row(
    line: int, row: Any, fmt: str | None, path: str, hit: Callable[[str, int], None]
) -> tuple[Record, bytes] | None:
    """One row of a flat format checked raw and as a record: the record and its duplicate key, or None."""
    if not _row_format_ok(row, line, fmt, hit):
        return None
    assert fmt is not None
    if fmt == "openai":
        _check_openai_row(row, line, hit)
    elif fmt == "openai_dpo":
        _check_openai_dpo_row(row, line, hit)
    try:  # the id is never shown: the line stands in for the content hash a record would compute
        rec = from_row(row, fmt, source=path, line=line, record_id=str(line))
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        if fmt not in ("openai", "openai_dpo"):  # already diagnosed by OpenAI's checks
            hit("bad_row", line)
        return None
    _check_record(rec, line, hit)
    return rec, xxhash.xxh3_128_digest(orjson.dumps(row, option=orjson.OPT_SORT_KEYS))


def _check_system_prompts(
    lines: list[int], systems: list[str | None], hit: Callable[[str, int], None]
) -> None:
    """Flag the examples whose system prompt differs from the most common one."""
    with_system = [s for s in systems if s is not None]
    if with_system:
        common = Counter(with_system).most_common(1)[0][0]
        for line, s in zip(lines, systems, strict=True):
            if s is not None and s != common:
                hit("system_prompt_inconsistent", line)


# -- the same checks over slices of a large file in forked worker processes ----------------------------

_PARALLEL_ROWS = 4000  # below this, forking costs more than it saves
_SCAN_JOB: tuple[list[tuple[int, Any]], str | None, str, str | None] | None = None
_Slice = tuple[list[tuple[str, int]], list[int], list[bytes], list[str | None], list[int] | None]


def _scan_workers(rows: list[tuple[int, Any]], fmt: str | None, chat_template: str | None) -> int:
    """How many processes check ``rows`` (1: here). Grouped formats and chat templates stay here."""
    import multiprocessing as mp

    if len(rows) < _PARALLEL_ROWS or fmt in GROUPED or chat_template is not None:
        return 1
    if "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        return 1
    return min(os.cpu_count() or 1, 4)


def _scan_slice(span: tuple[int, int]) -> _Slice:
    """In a worker: check rows ``span`` of the job, and count their tokens, returning only what is needed."""
    assert _SCAN_JOB is not None
    rows, fmt, path, tokenizer = _SCAN_JOB
    hits: list[tuple[str, int]] = []
    lines: list[int] = []
    keys: list[bytes] = []
    systems: list[str | None] = []
    recs: list[Record] = []
    for line, row in rows[span[0] : span[1]]:
        got = _check_row(line, row, fmt, path, lambda name, at: hits.append((name, at)))
        if got is not None:
            lines.append(line)
            keys.append(got[1])
            systems.append(_system_prompt(got[0]))
            recs.append(got[0])
    counts = count_example_tokens(recs, tokenizer=tokenizer) if tokenizer and recs else None
    return hits, lines, keys, systems, counts


def _scan_parallel(
    rows: list[tuple[int, Any]],
    fmt: str | None,
    path: str,
    hit: Callable[[str, int], None],
    tokenizer: str | None,
    workers: int,
) -> tuple[list[int], list[str | None], list[int] | None]:
    """:func:`_checked_records` and token counts over slices of ``rows`` in ``workers`` forked processes
    (they read the rows without copying them); hits are replayed here in line order, so the report is
    the one a single process gives. Returns the records' lines, system prompts and token counts."""
    import multiprocessing as mp

    global _SCAN_JOB
    if tokenizer:
        get_tokenizer(tokenizer)  # a bad name fails here, once, and workers inherit the loaded encoding
    step = max(1000, -(-len(rows) // (workers * 4)))
    _SCAN_JOB = (rows, fmt, path, tokenizer)
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_scan_slice, [(i, min(i + step, len(rows))) for i in range(0, len(rows), step)])
    finally:
        _SCAN_JOB = None
    hits: list[tuple[str, int]] = []
    lines: list[int] = []
    systems: list[str | None] = []
    counts: list[int] | None = [] if tokenizer else None
    seen: set[bytes] = set()
    for part_hits, part_lines, keys, part_systems, part_counts in parts:
        hits += part_hits
        for line, key in zip(part_lines, keys, strict=True):
            if key in seen:
                hits.append(("duplicate_example", line))
            else:
                seen.add(key)
        lines += part_lines
        systems += part_systems
        if counts is not None and part_counts is not None:
            counts += part_counts
    for name, line in sorted(hits, key=lambda h: h[1]):  # stable: each check's lines in file order
        hit(name, line)
    return lines, systems, counts

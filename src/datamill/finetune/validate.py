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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datamill.errors import ConfigError
from datamill.finetune.checks import (
    CHECKS,
    CheckResult,
    check_record,
    check_row,
    check_system_prompts,
    row_format_ok,
    system_prompt,
)
from datamill.finetune.formats import FORMATS, format_of_row, iter_rows
from datamill.finetune.grouped import oasst_conversations
from datamill.finetune.public import GROUPED
from datamill.finetune.stats import TokenStats, _check_billing, count_example_tokens, token_stats
from datamill.io import ErrorPolicy, Quarantine
from datamill.records import Record
from datamill.tokens import get_tokenizer

__all__ = ["CHECKS", "CheckResult", "ValidationReport", "validate"]


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
        lines, systems = [line for line, _ in records], [system_prompt(r) for _, r in records]
        counts = (
            count_example_tokens([r for _, r in records], tokenizer=tokenizer, chat_template=chat_template)
            if count_tokens and records
            else None
        )
    check_system_prompts(lines, systems, hit)
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
            if row_format_ok(row, line, fmt, hit):
                grouped.append((path, line, row))
            continue
        got = check_row(line, row, fmt, path, hit)
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
            check_record(rec, line, hit)
            records.append((line, rec))
    return records


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
        got = check_row(line, row, fmt, path, lambda name, at: hits.append((name, at)))
        if got is not None:
            lines.append(line)
            keys.append(got[1])
            systems.append(system_prompt(got[0]))
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

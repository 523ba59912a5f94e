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
and provenance. One row <-> one record lives in :mod:`datamill.finetune.rows`; this module reads and writes
whole files (and re-exports the row functions).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from datamill.errors import ConfigError, InputError
from datamill.finetune.grouped import oasst_conversations, pair_by_prompt
from datamill.finetune.public import GROUPED, NO_PREFERENCE
from datamill.finetune.rows import (
    FORMATS,
    NATIVE_FORMATS,
    PREFERENCE_FORMATS,
    WRITABLE,
    as_example,
    format_of_row,
    from_row,
    to_row,
    write_format,
)
from datamill.io import ErrorPolicy, expand_paths, iter_hf, iter_jsonl, iter_parquet
from datamill.io.jsonl import DEFAULT_MAX_LINE_BYTES
from datamill.records import Record

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

_TEXT_FAMILY = ("trl_text", "chat_text")


def detect_format(rows: Iterable[tuple[int, Any]], *, path: str | None = None, sample: int = 1000) -> str:
    """The one format of ``(line, row)`` pairs (first ``sample`` rows); InputError when unknown or mixed."""
    seen: dict[str, int] = {}
    counts: Counter[str] = Counter()
    unknown: tuple[int, Any] | None = None
    for i, (line, row) in enumerate(rows):
        if i >= sample:
            break
        fmt = format_of_row(row)
        if fmt is None:
            unknown = unknown or (line, row)
            continue
        seen.setdefault(fmt, line)
        counts[fmt] += 1
    if set(seen) == set(_TEXT_FAMILY):
        # plain text and chat-template text are one family: a corpus with a few rendered chats stays text, a
        # chat set with a few plain rows stays chat (those rows then fail with their reason)
        return "chat_text" if counts["chat_text"] > counts["trl_text"] else "trl_text"
    if len(seen) > 1:
        where = ", ".join(
            f"{fmt} (first at line {line})" for fmt, line in sorted(seen.items(), key=lambda x: x[1])
        )
        raise InputError(f"mixed formats in one file: {where}; split the file or pass format=", path=path)
    if not seen:
        if unknown is None:
            raise InputError("no rows to detect a format from", path=path)
        line, row = unknown
        keys = sorted(row) if isinstance(row, dict) else type(row).__name__
        raise InputError(
            f"unrecognised fine-tuning format (keys {keys}); expected one of: messages (openai), "
            "conversations (sharegpt), instruction/output (alpaca), instruction/response (dolly), "
            "prompt/completion, prompt/chosen/rejected, input/preferred_output/non_preferred_output, "
            "text, or a public dataset's shape (hh_rlhf, ultrafeedback, shp, helpsteer2, nectar, "
            "oasst1); pass format= to force one",
            path=path,
            line=line,
        )
    return next(iter(seen))


def iter_rows(
    source: Any,
    *,
    policy: ErrorPolicy | None = None,
    split: str | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[tuple[str, int, Any]]:
    """``(path, line, row)`` from JSONL/Parquet files, folders, globs, or an HF dataset (object or folder)."""
    if (
        not isinstance(source, (str, os.PathLike))
        or os.path.isdir(source)
        and os.path.exists(os.path.join(source, "dataset_info.json"))
        or _is_hf_dict(source)
    ):
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
    return (
        isinstance(source, (str, os.PathLike))
        and os.path.isdir(source)
        and os.path.exists(os.path.join(source, "dataset_dict.json"))
    )


def read_examples(
    source: Any,
    *,
    format: str = "auto",
    on_error: str = "raise",  # noqa: A002
    quarantine: Any = None,
    split: str | None = None,
    tree_paths: str = "top",
    keep_ties: bool = False,
) -> Iterator[Record]:
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
        raise ConfigError(
            f"format must be 'auto' or one of {', '.join(FORMATS)}, got {format!r}", params="format"
        )
    if tree_paths not in ("top", "all"):
        raise ConfigError(f"tree_paths must be 'top' or 'all', got {tree_paths!r}", params="tree_paths")
    fmt, forced = format, format != "auto"
    if fmt == "auto":
        sniff = ErrorPolicy("quarantine") if on_error == "quarantine" else policy  # a bad first line says so
        name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
        fmt = detect_format(
            ((n, row) for _, n, row in iter_rows(source, policy=sniff, split=split)), path=name
        )
    if fmt in GROUPED:

        def bad(path: str, line: int, reason: str) -> None:
            policy.bad(path=path, line=line, kind="bad_example", reason=f"not a valid {fmt} row: {reason}")

        rows = (
            (path, n, row)
            for path, n, row in iter_rows(source, policy=policy, split=split)
            if _fits(row, fmt, path, n, policy, forced)
        )
        yield from oasst_conversations(rows, paths=tree_paths, bad=bad)
    else:
        for path, n, row in iter_rows(source, policy=policy, split=split):
            if not _fits(row, fmt, path, n, policy, forced):
                continue
            try:
                rec = from_row(row, fmt, source=path, line=n)
                if NO_PREFERENCE in rec.metadata and not keep_ties:
                    q.add(
                        path=path,
                        line=n,
                        kind="no_preference",
                        raw=orjson.dumps(row, default=str),
                        reason=f"no preference: {rec.metadata[NO_PREFERENCE]}",
                    )
                    continue
                yield rec
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
                reason = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
                policy.bad(
                    path=path,
                    line=n,
                    kind="bad_example",
                    reason=f"not a valid {fmt} row: {reason}",
                    raw=orjson.dumps(row, default=str),
                )
    if not isinstance(quarantine, Quarantine):
        q.close()


def _fits(row: Any, fmt: str, path: str, line: int, policy: ErrorPolicy, forced: bool = False) -> bool:
    """False (after telling the policy) when a row is not an object, or (format detected, not forced) is in
    another format than the file's."""
    got = format_of_row(row)
    if not forced and got is not None and got != fmt and not ({got, fmt} <= set(_TEXT_FAMILY)):
        policy.bad(
            path=path,
            line=line,
            kind="bad_example",
            reason=f"not a valid {fmt} row: row looks like {got}, but the file is {fmt}",
            raw=orjson.dumps(row, default=str),
        )
        return False
    if not isinstance(row, dict):
        policy.bad(
            path=path,
            line=line,
            kind="bad_example",
            reason=f"not a valid {fmt} row: expected a JSON object, got {type(row).__name__}",
            raw=orjson.dumps(row, default=str),
        )
        return False
    return True


def write_examples(
    records: Iterable[Record],
    path: str | os.PathLike[str],
    *,
    format: str = "openai",  # noqa: A002
    keep_ids: bool = False,
    dropped: Counter[str] | None = None,
) -> int:
    """Write Examples/Preferences as ``format`` rows to JSONL (.gz/.zst), Parquet, or an HF folder.

    ``keep_ids`` adds each record's ``id`` and a ``datamill`` column (provenance + metadata) so
    lineage survives the export; training APIs ignore extra keys only sometimes, so it is opt-in.
    ``dropped`` counts the row fields left out (see :func:`to_row`).
    """
    from datamill.io import write_records

    if format not in WRITABLE:
        raise ConfigError(
            f"format must be one of {', '.join(WRITABLE)}, got {format!r}"
            + (" (a public dataset's shape is read, not written)" if format in FORMATS else "")
        )

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


def convert(
    src: Any,
    dst: str | os.PathLike[str],
    *,
    to: str,
    format: str = "auto",  # noqa: A002
    keep_ids: bool = False,
    on_error: str = "raise",
    quarantine: Any = None,
    tree_paths: str = "top",
    pair_score: str = "helpfulness",
) -> ConvertResult:
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
        recs: Iterable[Record] = read_examples(
            src, format=format, on_error=on_error, quarantine=q, tree_paths=tree_paths
        )
        if to in PREFERENCE_FORMATS:

            def unpaired(rec: Record, reason: str) -> None:
                q.add(
                    path=rec.provenance.source or "<input>",
                    line=rec.provenance.line,
                    kind="no_preference",
                    reason=reason,
                )

            recs = pair_by_prompt(recs, score=pair_score, bad=unpaired)
        result.written = write_examples(
            recs, dst, format=to, keep_ids=keep_ids, dropped=result.dropped_fields
        )
        result.unpaired = q.counts["no_preference"]
        return result
    finally:
        if not isinstance(quarantine, Quarantine):
            q.close()

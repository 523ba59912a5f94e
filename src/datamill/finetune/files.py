"""A fine-tuning step from file to file: read a set, apply one step, write the result back.

What ``datamill finetune clean | decontaminate | split | mix`` do, one call each: the input is read
in any format (malformed rows set aside in a :class:`~datamill.io.Quarantine` on request), and the
result is written in ``to``, else in the input's format when it can be written, else the closest one
(a public dataset's shape such as dolly or hh_rlhf is read, not written). Every such choice is a
sentence in the result's ``notes``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from datamill.errors import ConfigError
from datamill.finetune.clean import DEFAULT_RULES, CleanResult, clean
from datamill.finetune.curate import Contamination, SplitResult, decontaminate, mix, split
from datamill.finetune.formats import FORMATS, WRITABLE, read_examples, write_examples, write_format
from datamill.io import Quarantine
from datamill.records import Preference, Record

__all__ = [
    "Written",
    "check_format",
    "clean_file",
    "decontaminate_file",
    "mix_files",
    "output_format",
    "parse_fractions",
    "split_file",
]

T = TypeVar("T")
PathLike = str | os.PathLike[str]


@dataclass
class Written(Generic[T]):
    """A step's result over the records read (``records``), the format written, and notes on the way."""

    result: T
    records: list[Record]
    format: str | None = None
    notes: list[str] = field(default_factory=list)
    #: how many evaluation texts the records were compared with (decontaminate_file)
    compared: int = 0


def check_format(value: str | None, param: str, *, auto: bool = False) -> None:
    """Refuse an unknown format before reading anything: ``auto`` or a readable format where ``auto``
    (a ``format`` to read), else a writable one (a ``to`` to write)."""
    allowed = ("auto", *FORMATS) if auto else WRITABLE
    if value is not None and value not in allowed:
        raise ConfigError(f"{param} must be one of {', '.join(allowed)}, got {value!r}", params=param)


def output_format(recs: Sequence[Record], to: str | None = None, notes: list[str] | None = None) -> str:
    """``to``, else the input's format when it can be written, else the closest one (``write_format``),
    with a note saying so in ``notes``: a public dataset's shape (dolly, hh_rlhf, ...) is read, not written."""
    if to is not None:
        return to
    fmt = recs[0].metadata.get("format", "openai") if recs else "openai"
    out = write_format(fmt, preference=any(isinstance(r, Preference) for r in recs))
    if out != fmt and notes is not None:
        notes.append(
            f"{fmt} rows are written as {out} (a public dataset's shape is read, not written; --to chooses)"
        )
    return out


def _read(
    source: PathLike,
    *,
    format: str = "auto",  # noqa: A002
    on_error: str = "raise",
    quarantine: Quarantine | PathLike | None = None,
    dry_run: bool = False,
    notes: list[str] | None = None,
) -> list[Record]:
    """Every example of ``source``; a dry run counts the malformed lines but writes no quarantine file."""
    check_format(format, "format", auto=True)
    q = quarantine if isinstance(quarantine, Quarantine) else Quarantine(quarantine)
    would = q.path if dry_run else None
    if would is not None:
        q = Quarantine()
    recs = list(read_examples(source, format=format, on_error=on_error, quarantine=q))
    if would is not None and q.total and notes is not None:
        kinds = ", ".join(f"{k} {n:,}" for k, n in q.counts.most_common())
        notes.append(
            f"would quarantine {q.total:,} malformed line(s) ({kinds}) → {would} (dry run: not written)"
        )
    return recs


def _names(value: Sequence[str] | str | None) -> list[str]:
    """A list of names given as a sequence or as one comma-separated string (empty names left out)."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    return [x.strip() for x in items if x.strip()]


def clean_file(
    source: PathLike,
    output: PathLike | None = None,
    *,
    format: str = "auto",  # noqa: A002
    to: str | None = None,
    on_error: str = "raise",
    quarantine: Quarantine | PathLike | None = None,
    rejects: PathLike | None = None,
    rules: Sequence[str] | str | None = None,
    languages: Sequence[str] | str | None = ("en",),
    near_dup_threshold: float | None = None,
    near_dup_method: str = "minhash",
    semantic_threshold: float | None = None,
    embedding_model: str = "all-MiniLM-L6-v2",
    dry_run: bool = False,
    safety_model: str | None = None,
    harmful_threshold: float | None = None,
) -> Written[CleanResult]:
    """:func:`~datamill.finetune.clean` a file: the kept examples go to ``output``, the removed ones (each
    with its rule and reason, as JSONL) to ``rejects``. ``rules`` and ``languages`` may be comma-separated
    (``rules`` default: :data:`~datamill.finetune.DEFAULT_RULES`; no languages: any). A dry run writes
    nothing: no output, rejects or quarantine file."""
    from datamill.io import write_jsonl

    check_format(to, "to")
    notes: list[str] = []
    recs = _read(
        source, format=format, on_error=on_error, quarantine=quarantine, dry_run=dry_run, notes=notes
    )
    fmt = output_format(recs, to, notes)
    result = clean(
        recs,
        rules=_names(rules) or DEFAULT_RULES,
        languages=_names(languages) or None,
        near_dup_threshold=near_dup_threshold,
        near_dup_method=near_dup_method,
        semantic_threshold=semantic_threshold,
        embedding_model=embedding_model,
        dry_run=dry_run,
        safety_model=safety_model,
        harmful_threshold=harmful_threshold,
    )
    if output is not None and not dry_run:
        write_examples(result.kept, output, format=fmt)
    if rejects is not None and not dry_run:
        dropped = (
            {"rule": r, "reason": why, "line": rec.provenance.line, "record": rec.to_dict()}
            for rec, r, why in result.dropped
        )
        write_jsonl(dropped, rejects)
    return Written(result, recs, fmt, notes)


def decontaminate_file(
    source: PathLike,
    eval_texts: Sequence[PathLike],
    output: PathLike | None = None,
    *,
    format: str = "auto",  # noqa: A002
    to: str | None = None,
    on_error: str = "raise",
    quarantine: Quarantine | PathLike | None = None,
    ngram: int = 13,
    embedding_threshold: float | None = None,
) -> Written[Contamination]:
    """:func:`~datamill.finetune.decontaminate` a training file against evaluation files (any fine-tuning
    format, or JSONL with a text field); the kept examples go to ``output``."""
    check_format(to, "to")
    notes: list[str] = []
    train = _read(source, format=format, on_error=on_error, quarantine=quarantine)
    evals = [r for path in eval_texts for r in _read(path)]
    result = decontaminate(train, evals, ngram=ngram, embedding_threshold=embedding_threshold)
    fmt = None
    if output is not None:
        fmt = output_format(train, to, notes)
        write_examples(result.kept, output, format=fmt)
    return Written(result, train, fmt, notes, compared=len(evals))


def parse_fractions(fractions: Mapping[str, float] | str) -> dict[str, float]:
    """``{"train": 0.9, "test": 0.1}`` from ``"train=0.9,test=0.1"`` (a mapping is returned as a dict).

    A part's name is letters, digits and ``_`` (it names a file and a Hugging Face dataset split)."""
    if not isinstance(fractions, str):
        return dict(fractions)
    fr: dict[str, float] = {}
    for spec in fractions.split(","):
        name, sep, value = spec.strip().partition("=")
        try:
            fr_value = float(value)
        except ValueError:
            fr_value = None
        if not sep or fr_value is None:
            raise ConfigError(
                f"fractions must look like train=0.9,test=0.1, got {fractions!r}", params="fractions"
            )
        if not re.fullmatch(r"\w+(\.\w+)*", name):  # the split names Hugging Face datasets accepts
            raise ConfigError(
                f"fractions: a part name is letters, digits and _ (it names a file and a "
                f"dataset split), got {name!r}",
                params="fractions",
            )
        if name in fr:
            raise ConfigError(f"fractions names {name!r} twice: {fractions!r}", params="fractions")
        fr[name] = fr_value
    return fr


def split_file(
    source: PathLike,
    output: PathLike,
    *,
    fractions: Mapping[str, float] | str = "train=0.9,test=0.1",
    stratify: str | None = None,
    group: str | None = "near_duplicate",
    seed: int = 0,
    format: str = "auto",  # noqa: A002
    to: str | None = None,
    on_error: str = "raise",
    quarantine: Quarantine | PathLike | None = None,
) -> Written[SplitResult]:
    """:func:`~datamill.finetune.split` a file into ``output``/<part>.jsonl, one file per part of
    ``fractions`` (a mapping or ``"train=0.9,test=0.1"``); ``group="none"`` is no grouping."""
    check_format(to, "to")
    fr = parse_fractions(fractions)
    notes: list[str] = []
    recs = _read(source, format=format, on_error=on_error, quarantine=quarantine)
    parts = split(recs, fractions=fr, seed=seed, stratify=stratify, group=None if group == "none" else group)
    fmt = output_format(recs, to, notes)
    for name, items in parts.items():
        write_examples(items, Path(output) / f"{name}.jsonl", format=fmt)
    return Written(parts, recs, fmt, notes + list(parts.notes))


def _source_spec(spec: str) -> tuple[str, str, float]:
    """``name=path[:weight]`` as (name, path, weight); the weight defaults to 1."""
    name, sep, rest = spec.partition("=")
    if not sep:
        raise ConfigError(f"a source is name=path[:weight], got {spec!r}", params="sources")
    path, _, w = (
        rest.rpartition(":")
        if rest.count(":") and rest.rsplit(":", 1)[1].replace(".", "").isdigit()
        else (rest, "", "1")
    )
    return name, path, float(w or 1)


def mix_files(
    sources: Sequence[str],
    output: PathLike,
    *,
    total: int | None = None,
    to: str = "openai",
    seed: int = 0,
    replace: bool = False,
) -> Written[list[Record]]:
    """:func:`~datamill.finetune.mix` files given as ``name=path[:weight]`` into ``output`` (format ``to``)."""
    check_format(to, "to")
    data: dict[str, Sequence[Record]] = {}
    weights: dict[str, float] = {}
    for spec in sources:
        name, path, weight = _source_spec(spec)
        data[name] = _read(path)
        weights[name] = weight
    mixed = mix(data, weights=weights, total=total, seed=seed, replace=replace)
    write_examples(mixed, output, format=to)
    return Written(mixed, [r for recs in data.values() for r in recs], to)

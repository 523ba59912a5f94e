"""Decontaminate against evaluation sets, split without leaks, mix sources."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datamill.errors import ConfigError
from datamill.finetune.defects import split_example
from datamill.records import Example, Record

__all__ = ["Contamination", "SplitResult", "decontaminate", "mix", "split"]


def _text(rec: Record) -> str:
    if isinstance(rec, Example):
        ins, out = split_example(rec)
        return f"{ins}\n{out}"
    d = rec.to_dict()
    return "\n".join(str(v) for k, v in d.items() if k not in ("type", "id", "metadata", "provenance"))


@dataclass
class Contamination:
    """Which training examples overlap the evaluation set, and how."""

    flagged: dict[int, str]  # training index -> reason
    kept: list[Record]
    removed: list[Record]

    def to_dict(self) -> dict[str, Any]:
        return {
            "removed": len(self.removed),
            "kept": len(self.kept),
            "reasons": {str(i): r for i, r in sorted(self.flagged.items())},
        }


def decontaminate(
    train: Sequence[Record],
    eval_texts: Iterable[str | Record],
    *,
    ngram: int = 13,
    min_overlap: int = 1,
    embedding_threshold: float | None = None,
    embedding_model: str = "all-MiniLM-L6-v2",
    drop: bool = True,
) -> Contamination:
    """Flag training examples sharing ``min_overlap`` word ``ngram``-grams with any evaluation text, or
    (with ``embedding_threshold``) whose embedding cosine to an evaluation text is at least that.

    ``eval_texts`` are strings or records (an evaluation set read with ``read_examples``), a record
    standing for its text as a training example does: its input and output together.

    Short texts (fewer words than ``ngram``) are compared as a whole-text n-gram, so an evaluation
    question copied verbatim is always caught.
    """
    from datamill.decontam import NgramIndex

    if ngram < 1:
        raise ConfigError(f"ngram must be >= 1, got {ngram!r}", params="ngram")
    if min_overlap < 1:
        raise ConfigError(f"min_overlap must be >= 1, got {min_overlap!r}", params="min_overlap")
    if embedding_threshold is not None and not 0 < embedding_threshold <= 1:
        raise ConfigError(
            f"embedding_threshold must be in (0, 1], got {embedding_threshold!r}",
            params="embedding_threshold",
        )
    evals = [t for t in (e if isinstance(e, str) else _text(e) for e in eval_texts) if t and t.strip()]
    bank = NgramIndex(evals, n=ngram, short="whole")
    flagged: dict[int, str] = {}
    texts = [_text(r) for r in train]
    for i, t in enumerate(texts):
        hits = bank.overlap(t)
        if hits >= min_overlap:
            flagged[i] = f"{hits} shared {ngram}-gram(s) with the evaluation set"
    if embedding_threshold is not None and evals:
        from datamill.embed import get_embedder

        emb = get_embedder(embedding_model)
        ev = emb.encode(evals)
        tr = emb.encode(texts)
        best = (tr @ ev.T).max(axis=1)
        for i in np.flatnonzero(best >= embedding_threshold).tolist():
            flagged.setdefault(i, f"embedding similarity {best[i]:.3f} to an evaluation text")
    removed = [train[i] for i in sorted(flagged)]
    kept = [r for i, r in enumerate(train) if i not in flagged] if drop else list(train)
    return Contamination(flagged=flagged, kept=kept, removed=removed)


_TEXT_FIELDS = frozenset({"input", "output", "messages", "text", "prompt", "chosen", "rejected"})


def _field(rec: Record, name: str) -> Any:
    """A record's value for ``name``: its top-level field (``label``) when set, else ``metadata[name]``;
    None when it has neither."""
    if name in rec._content_fields():
        value = getattr(rec, name)
        if value is not None:
            return value
    return rec.metadata.get(name)


def _fields_present(records: Sequence[Record]) -> list[str]:
    """The field names rows have that can stratify or group: set top-level fields and metadata keys."""
    names: set[str] = set()
    for r in records:
        names.update(k for k in r._content_fields() if k not in _TEXT_FIELDS and getattr(r, k) is not None)
        names.update(k for k, v in r.metadata.items() if v is not None)
    return sorted(names)


def _check_field(records: Sequence[Record], name: str, param: str) -> None:
    if not any(_field(r, name) is not None for r in records):
        have = _fields_present(records)
        raise ConfigError(
            f"{param} names a field no row has: {name!r} (neither top-level nor in metadata); "
            + (f"rows have: {', '.join(have)}" if have else "rows have no label and no metadata"),
            params=param,
        )


def _largest_remainder(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Whole row counts summing to ``n`` closest to ``n * fraction``: floors, then the rows left over go
    to the largest remainders (ties: the smaller fraction first, then the order given)."""
    names = list(fractions)
    out = {s: math.floor(n * f + 1e-9) for s, f in fractions.items()}
    left = n - sum(out.values())
    order = sorted(
        (s for s in names if fractions[s] > 0),
        key=lambda s: (-(n * fractions[s] - out[s]), fractions[s], names.index(s)),
    )
    for s in order[:left]:
        out[s] += 1
    return out


def _cell_targets(
    sizes: dict[Any, int], fractions: dict[str, float], totals: dict[str, int]
) -> dict[Any, dict[str, int]]:
    """Per-stratum row counts: each stratum split in the fractions (largest remainder), while the
    parts' totals stay the ones computed on all rows (controlled rounding)."""
    names = [s for s in fractions if fractions[s] > 0]
    strata = list(sizes)
    cell = {c: {s: math.floor(sizes[c] * fractions[s] + 1e-9) for s in fractions} for c in strata}
    row_left = {c: sizes[c] - sum(cell[c].values()) for c in strata}
    col_left = {s: totals[s] - sum(cell[c][s] for c in strata) for s in names}
    order = sorted(
        ((c, s) for c in strata for s in names),
        key=lambda cs: (
            -(sizes[cs[0]] * fractions[cs[1]] - cell[cs[0]][cs[1]]),
            fractions[cs[1]],
            names.index(cs[1]),
            strata.index(cs[0]),
        ),
    )
    while any(row_left.values()):
        for c, s in order:
            if row_left[c] > 0 and col_left[s] > 0:
                cell[c][s] += 1
                row_left[c] -= 1
                col_left[s] -= 1
    return cell


class SplitResult(dict[str, list[Record]]):
    """The parts of a split, by name, and how the requested fractions became row counts.

    ``fractions``: as requested; ``targets``: the rows each part should get (largest remainder on the
    row count); ``notes``: one sentence per way the realised counts differ from ``fraction × rows``
    (rounding, strata too small for every part, groups that cannot be divided); empty when exact.
    """

    def __init__(
        self,
        parts: dict[str, list[Record]],
        *,
        fractions: dict[str, float],
        targets: dict[str, int],
        notes: list[str],
    ) -> None:
        super().__init__(parts)
        self.fractions = fractions
        self.targets = targets
        self.notes = notes

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(items) for name, items in self.items()}


def split(
    records: Sequence[Record],
    *,
    fractions: dict[str, float] | None = None,
    seed: int = 0,
    stratify: str | None = None,
    group: str | None = "near_duplicate",
    near_dup_threshold: float = 0.7,
) -> SplitResult:
    """Split into named parts (default train 0.9 / test 0.1), deterministically for a ``seed``.

    ``fractions`` must sum to 1. Each part's row count is ``fraction × rows`` rounded by largest
    remainder (so 45 rows at 0.9/0.1 give 41/4 and 40 rows at 0.8/0.2 give 32/8); a part with a positive
    fraction that would get no rows is an error. ``stratify`` names a field (a top-level one such as
    ``"label"``, else a metadata key): each of its values is split in the same proportions, the parts'
    totals unchanged. ``group`` keeps rows together: ``"near_duplicate"`` (MinHash, Jaccard >=
    ``near_dup_threshold``) keeps near-duplicates in one part (no leakage), a field name keeps equal values
    together (rows without it are on their own), ``None`` splits rows independently. Groups are placed
    largest first where the most rows are still wanted, so the counts can move off the targets when groups
    are big. A field that no row has is an error. Every record gets its part in ``split``; the returned
    :class:`SplitResult` says in ``notes`` how the counts differ from the fractions.
    """
    fractions = _check_split_options(
        records, fractions, stratify=stratify, group=group, near_dup_threshold=near_dup_threshold
    )
    names = list(fractions)
    n = len(records)
    targets = _part_targets(n, fractions)
    gid = _group_ids(records, group, near_dup_threshold)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(gid):
        groups[g].append(i)
    # a group's stratum is its first row's value
    strata: dict[str, list[int]] = defaultdict(list)
    for g, members in groups.items():
        strata[repr(_field(records[members[0]], stratify)) if stratify else ""].append(g)
    sizes = {c: sum(len(groups[g]) for g in strata[c]) for c in sorted(strata)}
    cells = _cell_targets(sizes, fractions, targets)
    assign, got, total = _place_groups(groups, strata, cells, fractions, targets, seed=seed)
    notes = _split_notes(n, fractions, targets, total, groups, group=group)
    if stratify is not None:
        notes += _strata_notes(got, sizes, fractions, stratify)
    out: dict[str, list[Record]] = {name: [] for name in names}
    for i, r in enumerate(records):
        part = assign[gid[i]]
        if isinstance(r, Example):
            r.split = part
        else:
            r.metadata["split"] = part
        out[part].append(r)
    return SplitResult(out, fractions=fractions, targets=targets, notes=notes)


def _check_split_options(
    records: Sequence[Record],
    fractions: dict[str, float] | None,
    *,
    stratify: str | None,
    group: str | None,
    near_dup_threshold: float,
) -> dict[str, float]:
    """The fractions to split by (default train 0.9 / test 0.1), once the options are checked."""
    fractions = dict(fractions) if fractions is not None else {"train": 0.9, "test": 0.1}
    shown = (
        ", ".join(f"{k}={v:g}" for k, v in fractions.items())
        if all(isinstance(v, (int, float)) for v in fractions.values())
        else repr(fractions)
    )
    if not fractions or not all(
        isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in fractions.values()
    ):
        raise ConfigError(
            f"fractions must be non-negative numbers, one per part, got {shown or '{}'}", params="fractions"
        )
    if abs(sum(fractions.values()) - 1) > 1e-6:
        raise ConfigError(
            f"fractions must sum to 1, got {sum(fractions.values()):g} ({shown})", params="fractions"
        )
    if group == "near_duplicate" and not 0 < near_dup_threshold <= 1:
        raise ConfigError(
            f"near_dup_threshold must be in (0, 1], got {near_dup_threshold!r}", params="near_dup_threshold"
        )
    if stratify is not None:
        _check_field(records, stratify, "stratify")
    if group not in (None, "near_duplicate"):
        _check_field(records, group, "group")
    return fractions


def _part_targets(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Rows per part (largest remainder); a part with a positive fraction but no rows is an error."""
    targets = _largest_remainder(n, fractions)
    for s, f in fractions.items():
        if f > 0 and targets[s] == 0:
            raise ConfigError(
                f"fractions: {s}={f:g} of {n:,} rows is {n * f:.2g} rows, which rounds to none; "
                f"give {s} a larger fraction or split at least {math.ceil(1 / f - 1e-9):,} rows",
                params="fractions",
            )
    return targets


def _group_ids(records: Sequence[Record], group: str | None, near_dup_threshold: float) -> list[int]:
    """Each row's group (rows of one group go to one part): its near-duplicate cluster, the first row with
    its value of the ``group`` field, or itself."""
    if group == "near_duplicate":
        from datamill.minhash import near_duplicate_clusters

        return near_duplicate_clusters([_text(r) for r in records], threshold=near_dup_threshold, ngram=3)
    if group is None:
        return list(range(len(records)))
    key_ids: dict[str, int] = {}
    return [
        i if (v := _field(r, group)) is None else key_ids.setdefault(repr(v), i)
        for i, r in enumerate(records)
    ]


def _place_groups(
    groups: dict[int, list[int]],
    strata: dict[str, list[int]],
    cells: dict[Any, dict[str, int]],
    fractions: dict[str, float],
    targets: dict[str, int],
    *,
    seed: int,
) -> tuple[dict[int, str], dict[str, dict[str, int]], dict[str, int]]:
    """Each group's part, the rows per stratum and part, the rows per part. Within a stratum, groups go
    largest first (ties in a seeded random order) to the part still wanting the most rows."""
    names = list(fractions)
    keys = sorted(strata)
    rng = random.Random(seed)
    wanted = [s for s in names if fractions[s] > 0]
    got = {c: dict.fromkeys(names, 0) for c in keys}
    total = dict.fromkeys(names, 0)
    assign: dict[int, str] = {}
    for c in keys:
        gs = sorted(strata[c])
        rng.shuffle(gs)
        gs.sort(key=lambda g: -len(groups[g]))  # big groups first, then the small ones even out the counts
        for g in gs:
            part = max(
                wanted, key=lambda s: (cells[c][s] - got[c][s], targets[s] - total[s], -names.index(s))
            )
            assign[g] = part
            got[c][part] += len(groups[g])
            total[part] += len(groups[g])
    return assign, got, total


def _split_notes(
    n: int,
    fractions: dict[str, float],
    targets: dict[str, int],
    total: dict[str, int],
    groups: dict[int, list[int]],
    *,
    group: str | None,
) -> list[str]:
    """What moved the counts off ``n`` × fractions: rounding, and groups kept whole (an error when a part
    would get no rows)."""
    names = list(fractions)
    wanted = [s for s in names if fractions[s] > 0]
    notes: list[str] = []
    if any(abs(targets[s] - n * f) > 1e-9 for s, f in fractions.items()):
        notes.append(
            f"{n:,} rows × fractions are not whole numbers, rounded by largest remainder: "
            + ", ".join(f"{s} {n * f:.4g} → {targets[s]:,}" for s, f in fractions.items())
        )
    if total != targets:
        largest = max(len(m) for m in groups.values())
        what = "near-duplicate groups" if group == "near_duplicate" else f"groups of equal {group!r}"
        empty = [s for s in wanted if total[s] == 0]
        moved = ", ".join(f"{s} {total[s]:,} (target {targets[s]:,})" for s in names)
        if empty:
            raise ConfigError(
                f"{', '.join(empty)} would get no rows: {len(groups):,} {what} (largest {largest:,} "
                f"rows) cannot be divided into {', '.join(names)}; {moved}. Choose another group "
                "(or none), or split more rows",
                params="group",
            )
        notes.append(
            f"{what} are kept whole (largest {largest:,} rows), so the counts moved off the targets: {moved}"
        )
    return notes


def _strata_notes(
    got: dict[str, dict[str, int]], sizes: dict[str, int], fractions: dict[str, float], stratify: str
) -> list[str]:
    """The values of ``stratify`` with too few rows to be in every part."""
    wanted = [s for s in fractions if fractions[s] > 0]
    keys = sorted(got)
    short = [c for c in keys if any(got[c][s] == 0 for s in wanted)]
    if not short:
        return []
    shown_strata = "; ".join(
        f"{'(none)' if c == 'None' else c} ({sizes[c]:,} row{'s' if sizes[c] != 1 else ''}: "
        + ", ".join(f"{s} {got[c][s]}" for s in wanted)
        + ")"
        for c in short[:5]
    )
    return [
        f"{len(short):,} of {len(keys):,} {stratify} values have too few rows to be in every part: "
        + shown_strata
        + ("; …" if len(short) > 5 else "")
    ]


def mix(
    sources: dict[str, Sequence[Record]],
    *,
    weights: dict[str, float],
    total: int | None = None,
    seed: int = 0,
    replace: bool = False,
) -> list[Record]:
    """Sample a mixture of named sources in proportion to ``weights`` (seeded).

    ``total`` defaults to the largest mixture possible without replacement. Each record's
    ``metadata["source"]`` names where it came from.
    """
    if set(weights) - set(sources):
        raise ConfigError(
            f"weights name unknown sources {sorted(set(weights) - set(sources))}", params="weights"
        )
    if any(not v >= 0 for v in weights.values()):
        raise ConfigError(f"weights must be >= 0, got {weights!r}", params="weights")
    w = {k: v for k, v in weights.items() if v > 0}
    if not w:
        raise ConfigError("weights: at least one weight must be positive", params="weights")
    if total is not None and total < 1:
        raise ConfigError(f"total must be >= 1, got {total!r}", params="total")
    s = sum(w.values())
    if total is None:
        total = int(min(len(sources[k]) / (v / s) for k, v in w.items()))
    rng = random.Random(seed)
    out: list[Record] = []
    for k, v in sorted(w.items()):
        want = round(total * v / s)
        pool = list(sources[k])
        if not replace and want > len(pool):
            raise ConfigError(
                f"source {k!r} has {len(pool)} records, the mixture needs {want}; "
                "lower total or allow replace=True",
                params=("total", "replace"),
            )
        picked = [rng.choice(pool) for _ in range(want)] if replace else rng.sample(pool, want)
        for r in picked:
            r.metadata.setdefault("source", k)
        out.extend(picked)
    rng.shuffle(out)
    return out

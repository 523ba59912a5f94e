"""Decontaminate against evaluation sets, split without leaks, mix sources, write a dataset card."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datamill.errors import ConfigError
from datamill.finetune.clean import split_example
from datamill.records import Example, Record

__all__ = ["Contamination", "dataset_card", "decontaminate", "mix", "split"]


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
        return {"removed": len(self.removed), "kept": len(self.kept),
                "reasons": {str(i): r for i, r in sorted(self.flagged.items())}}


def decontaminate(train: Sequence[Record], eval_texts: Iterable[str], *, ngram: int = 13,
                  min_overlap: int = 1, embedding_threshold: float | None = None,
                  embedding_model: str = "all-MiniLM-L6-v2", drop: bool = True) -> Contamination:
    """Flag training examples sharing ``min_overlap`` word ``ngram``-grams with any evaluation text, or
    (with ``embedding_threshold``) whose embedding cosine to an evaluation text is at least that.

    Short texts (fewer words than ``ngram``) are compared as a whole-text n-gram, so an evaluation
    question copied verbatim is always caught.
    """
    from datamill.decontam import NgramIndex

    evals = [t for t in eval_texts if t and t.strip()]
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


def split(records: Sequence[Record], *, fractions: dict[str, float] | None = None, seed: int = 0,
          stratify: str | None = None, group: str | None = "near_duplicate",
          near_dup_threshold: float = 0.7) -> dict[str, list[Record]]:
    """Split into named parts (default train 0.9 / test 0.1), deterministically for a ``seed``.

    ``stratify``: ``"label"`` or a metadata key; each value is split in the same proportions.
    ``group``: ``"near_duplicate"`` keeps MinHash near-duplicates in the same part (no leakage),
    a metadata key keeps equal values together, ``None`` splits records independently.
    Every record gets its part in ``split``.
    """
    fractions = fractions or {"train": 0.9, "test": 0.1}
    total = sum(fractions.values())
    if any(v < 0 for v in fractions.values()) or total <= 0:
        raise ConfigError(f"fractions must be non-negative and sum to more than 0, got {fractions!r}")
    names = list(fractions)
    n = len(records)
    if group == "near_duplicate":
        from datamill.minhash import near_duplicate_clusters

        gid = near_duplicate_clusters([_text(r) for r in records], threshold=near_dup_threshold, ngram=3)
    elif group is None:
        gid = list(range(n))
    else:
        key_ids: dict[Any, int] = {}
        gid = [key_ids.setdefault(repr(r.metadata.get(group)), i) for i, r in enumerate(records)]

    def strat_value(r: Record) -> Any:
        if stratify is None:
            return None
        return repr(getattr(r, "label", None)) if stratify == "label" else repr(r.metadata.get(stratify))

    strata: dict[Any, list[int]] = defaultdict(list)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(gid):
        groups[g].append(i)
    for g, members in groups.items():
        strata[strat_value(records[members[0]])].append(g)
    rng = random.Random(seed)
    assign: dict[int, str] = {}
    for value in sorted(strata, key=repr):
        gs = sorted(strata[value])
        rng.shuffle(gs)
        sizes = np.array([len(groups[g]) for g in gs])
        cum = np.cumsum(sizes)
        size = cum[-1] if len(cum) else 0
        bounds, acc = [], 0.0
        for name in names:
            acc += fractions[name] / total
            bounds.append(acc * size)
        for g, c in zip(gs, cum, strict=True):
            mid = c - len(groups[g]) / 2
            part = next((names[k] for k, b in enumerate(bounds) if mid <= b), names[-1])
            assign[g] = part
    out: dict[str, list[Record]] = {name: [] for name in names}
    for i, r in enumerate(records):
        part = assign[gid[i]]
        if isinstance(r, Example):
            r.split = part
        else:
            r.metadata["split"] = part
        out[part].append(r)
    return out


def mix(sources: dict[str, Sequence[Record]], *, weights: dict[str, float], total: int | None = None,
        seed: int = 0, replace: bool = False) -> list[Record]:
    """Sample a mixture of named sources in proportion to ``weights`` (seeded).

    ``total`` defaults to the largest mixture possible without replacement. Each record's
    ``metadata["source"]`` names where it came from.
    """
    if set(weights) - set(sources):
        raise ConfigError(f"weights name unknown sources {sorted(set(weights) - set(sources))}")
    w = {k: v for k, v in weights.items() if v > 0}
    if not w:
        raise ConfigError("at least one weight must be positive")
    s = sum(w.values())
    if total is None:
        total = int(min(len(sources[k]) / (v / s) for k, v in w.items()))
    rng = random.Random(seed)
    out: list[Record] = []
    for k, v in sorted(w.items()):
        want = round(total * v / s)
        pool = list(sources[k])
        if not replace and want > len(pool):
            raise ConfigError(f"source {k!r} has {len(pool)} records, the mixture needs {want}; "
                              "lower total or allow replace=True")
        picked = [rng.choice(pool) for _ in range(want)] if replace else rng.sample(pool, want)
        for r in picked:
            r.metadata.setdefault("source", k)
        out.extend(picked)
    rng.shuffle(out)
    return out


def dataset_card(*, name: str, splits: dict[str, int], formats: Sequence[str], token_stats: Any = None,
                 sources: Sequence[str] = (), license: str = "unknown", language: Sequence[str] = ("en",),  # noqa: A002
                 task: str = "text-generation", description: str = "", cleaning: dict[str, int] | None = None) -> str:
    """A Hugging Face dataset card (README.md with the YAML header the Hub reads)."""
    import yaml

    n = sum(splits.values())
    size = next(label for limit, label in ((1e3, "n<1K"), (1e4, "1K<n<10K"), (1e5, "10K<n<100K"),
                                           (1e6, "100K<n<1M"), (float("inf"), "n>1M")) if n < limit)
    header = {"license": license, "language": list(language), "task_categories": [task], "size_categories": [size],
              "pretty_name": name, "tags": ["datamill", "fine-tuning", *formats],
              "configs": [{"config_name": "default",
                           "data_files": [{"split": s, "path": f"data/{s}.jsonl"} for s in splits]}]}
    lines = ["---", yaml.safe_dump(header, sort_keys=False).strip(), "---", "", f"# {name}", ""]
    if description:
        lines += [description, ""]
    lines += ["## Splits", "", "| split | examples |", "|---|---|"]
    lines += [f"| {s} | {c:,} |" for s, c in splits.items()]
    lines += ["", f"Formats: {', '.join(formats)}.", ""]
    if token_stats is not None:
        t = token_stats
        lines += ["## Tokens", "", f"Counted with `{t.tokenizer}`: {t.total:,} tokens in {t.examples:,} examples "
                  f"(mean {t.mean:.0f}, median {t.p50:.0f}, p90 {t.p90:.0f}, max {t.max:,}); "
                  f"{t.over_limit} over {t.max_tokens:,}. Training {t.epochs} epoch(s) bills {t.billed_tokens:,} tokens.", ""]
    if cleaning:
        lines += ["## Cleaning", "", "| rule | removed |", "|---|---|"]
        lines += [f"| {r} | {c:,} |" for r, c in sorted(cleaning.items())]
        lines += [""]
    if sources:
        lines += ["## Sources", ""] + [f"- {s}" for s in sources] + [""]
    lines += ["## License", "", f"{license}", "", "Prepared with [datamill](https://pypi.org/project/datamill/)."]
    return "\n".join(lines) + "\n"

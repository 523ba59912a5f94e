"""Inconsistent labelling: near-duplicate inputs with conflicting targets, and annotator disagreement.

Near duplicates are found two ways and merged: MinHash LSH over character 5-grams (surface copies,
:mod:`datamill.minhash`) and embedding similarity (paraphrases). A group whose members carry
different targets is a conflict unless one target holds a strong majority, in which case the odd
ones out are label noise (see :mod:`datamill.diagnose.label_noise`), not inconsistency.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from datamill.diagnose.inputs import FeedbackItem

__all__ = [
    "AnnotatorStats",
    "ConflictGroup",
    "TaskAgreement",
    "annotator_agreement",
    "conflicting_duplicates",
    "overall_agreement",
]


@dataclass(slots=True)
class ConflictGroup:
    """Near-duplicate training inputs whose targets disagree."""

    members: list[int]
    targets: dict[str, list[int]]  # target -> member indices
    similarity: float  # lowest pairwise input similarity inside the group


def _minhash_clusters(texts: Sequence[str], threshold: float) -> list[int]:
    try:  # the pre-training stage may re-export the shared implementation
        from datamill.pretrain.minhash import near_duplicate_clusters  # type: ignore[import-not-found]
    except ImportError:
        from datamill.minhash import near_duplicate_clusters
    return near_duplicate_clusters(list(texts), threshold=threshold, ngram=5, unit="char")


def conflicting_duplicates(
    texts: Sequence[str],
    targets: Sequence[str],
    vecs: np.ndarray,
    neighbours: np.ndarray,
    sims: np.ndarray,
    *,
    dup_sim: float = 0.92,
    minhash_threshold: float = 0.7,
    majority: float = 0.75,
    min_majority: int = 3,
    out_vecs: np.ndarray | None = None,
    margin: float = 0.1,
) -> list[ConflictGroup]:
    """Groups of near-duplicate inputs with conflicting targets (largest groups first).

    Args:
        texts: training inputs.
        targets: their labels/outputs.
        vecs: their normalised embeddings.
        neighbours, sims: each input's nearest other inputs (from :func:`~datamill.diagnose.coverage.knn`).
        dup_sim: cosine similarity from which two inputs are near duplicates.
        minhash_threshold: estimated Jaccard similarity from which two inputs are near copies.
        majority, min_majority: a group where one target holds this share and at least this many
            members is a noise case, not a conflict.
        out_vecs: for free-text targets, normalised embeddings of the outputs: a member disagrees
            when its output is more than ``margin`` less similar to the others than is typical in
            its group (default: targets agree when equal).
    """
    from datamill.minhash import UnionFind

    n = len(texts)
    uf = UnionFind(n)
    for i, rep in enumerate(_minhash_clusters(texts, minhash_threshold)):
        uf.union(i, rep)
    rows, cols = np.nonzero((sims >= dup_sim) & (neighbours >= 0))
    for i, c in zip(rows.tolist(), cols.tolist(), strict=True):
        uf.union(i, int(neighbours[i, c]))
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[uf.find(i)].append(i)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        by_target: dict[str, list[int]] = defaultdict(list)
        if out_vecs is None:
            for m in members:
                by_target[targets[m]].append(m)
        else:
            ov = out_vecs[members]
            pair = ov @ ov.T
            typical = (pair.sum(axis=1) - np.diagonal(pair)) / (len(members) - 1)
            odd = typical < np.median(typical) - margin
            medoid = members[int(np.argmax(typical))]
            for m, is_odd in zip(members, odd.tolist(), strict=True):
                by_target[targets[m] if is_odd else targets[medoid]].append(m)
        if len(by_target) < 2:
            continue
        top = max(len(v) for v in by_target.values())
        if top >= min_majority and top / len(members) >= majority:
            continue  # a clear majority: the rest are label noise
        sub = vecs[members]
        out.append(
            ConflictGroup(
                members=sorted(members),
                targets={t: sorted(v) for t, v in by_target.items()},
                similarity=float((sub @ sub.T).min()),
            )
        )
    out.sort(key=lambda g: (-len(g.members), g.members[0]))
    return out


@dataclass(slots=True)
class TaskAgreement:
    """Agreement on one judged item: pairwise agreement share, majority value and the votes."""

    task: str
    agreement: float
    majority: Any
    votes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AnnotatorStats:
    """One annotator against the consensus of the others and against gold questions."""

    annotator: str
    judged: int
    vs_consensus: float | None  # share agreeing with the leave-one-out majority
    gold_seen: int
    gold_failed: int


def _key(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def annotator_agreement(items: Sequence[FeedbackItem]) -> tuple[list[TaskAgreement], list[AnnotatorStats]]:
    """Per-item pairwise agreement (items with 2+ judgements, lowest first) and per-annotator statistics."""
    by_task: dict[str, dict[str, Any]] = defaultdict(dict)
    for it in items:
        by_task[it.task][it.annotator] = it.value
    tasks = []
    for task, votes in by_task.items():
        if len(votes) < 2:
            continue
        counts = Counter(_key(v) for v in votes.values())
        n = len(votes)
        pairs = sum(c * (c - 1) for c in counts.values()) / (n * (n - 1))
        top = counts.most_common(1)[0][0]
        majority = next(v for v in votes.values() if _key(v) == top)
        tasks.append(TaskAgreement(task=task, agreement=pairs, majority=majority, votes=dict(votes)))
    tasks.sort(key=lambda t: (t.agreement, t.task))
    agree: dict[str, list[int]] = defaultdict(list)
    for votes in by_task.values():
        for ann, value in votes.items():
            others = Counter(_key(v) for a, v in votes.items() if a != ann)
            if not others:
                continue
            best = others.most_common()
            if len(best) > 1 and best[0][1] == best[1][1]:
                continue  # no consensus among the others
            agree[ann].append(int(best[0][0] == _key(value)))
    stats: dict[str, AnnotatorStats] = {}
    for it in items:
        st = stats.setdefault(it.annotator, AnnotatorStats(it.annotator, 0, None, 0, 0))
        st.judged += 1
        if it.gold is not None:
            st.gold_seen += 1
            st.gold_failed += int(_key(it.gold) != _key(it.value))
    for ann, st in stats.items():
        if agree.get(ann):
            st.vs_consensus = float(np.mean(agree[ann]))
    return tasks, sorted(
        stats.values(), key=lambda s: (s.vs_consensus if s.vs_consensus is not None else 2.0, s.annotator)
    )


def overall_agreement(items: Sequence[FeedbackItem]) -> dict[str, Any]:
    """Krippendorff's alpha (nominal) over all judged items and Cohen's kappa per annotator pair.

    Uses :mod:`datamill.feedback.agreement` (the annotation app's implementation); empty when that
    stage is not installed or there is nothing to compare.
    """
    try:
        from datamill.feedback.agreement import krippendorff_alpha, pairwise_cohen
    except ImportError:  # pragma: no cover - the feedback stage ships with datamill
        return {}
    labels: dict[str, dict[str, str]] = defaultdict(dict)
    for it in items:
        labels[it.annotator][it.task] = _key(it.value)
    tasks = sorted({t for per in labels.values() for t in per})
    if len(labels) < 2 or not tasks:
        return {}
    codes = {v: float(i) for i, v in enumerate(sorted({v for per in labels.values() for v in per.values()}))}
    matrix = [[codes[labels[a][t]] if t in labels[a] else None for t in tasks] for a in sorted(labels)]
    alpha = krippendorff_alpha(matrix, level="nominal")
    return {
        "krippendorff_alpha": None if np.isnan(alpha) else float(alpha),
        "pairwise_cohen": pairwise_cohen(labels, min_items=2),
    }

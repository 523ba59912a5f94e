"""The evidence a diagnosis weighs, one phase a function: the embedding neighbourhoods and coverage of each
result (:func:`neighbourhoods`), label noise by confident learning and neighbour votes (:func:`find_label_noise`),
and inconsistent labelling from near duplicates and annotator agreement (:func:`find_inconsistency`).
:func:`datamill.diagnose.core.diagnose` runs them in order; :mod:`datamill.diagnose.attribute` reads them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datamill.diagnose.coverage import Cluster, cluster_coverage, coverage_scores, knn
from datamill.diagnose.inconsistency import (
    AnnotatorStats,
    ConflictGroup,
    TaskAgreement,
    annotator_agreement,
    conflicting_duplicates,
)
from datamill.diagnose.inputs import EvalItem, FeedbackItem, TrainItem
from datamill.diagnose.label_noise import (
    find_label_issues,
    knn_pred_probs,
    label_quality_scores,
    neighbour_disagreement,
    output_disagreement,
)
from datamill.diagnose.result import NoisyTrain
from datamill.errors import ConfigError, InputError

__all__ = [
    "Inconsistency",
    "Labels",
    "Space",
    "encode_unique",
    "find_inconsistency",
    "find_label_noise",
    "neighbourhoods",
    "norm_text",
]

# a member of a conflicting near-duplicate pair is still label noise when confident learning gives its
# label at most this self-confidence (1 - score): a single flip next to one twin, not an ambiguous input
_OUTVOTED = 0.9


def norm_text(text: str | None) -> str:
    return " ".join((text or "").lower().split())


def encode_unique(embedder: Any, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """Embed unique texts once and scatter back (inputs often repeat)."""
    uniq: dict[str, int] = {}
    idx = np.fromiter((uniq.setdefault(t, len(uniq)) for t in texts), dtype=np.int64, count=len(texts))
    vecs = np.asarray(embedder.encode(list(uniq), batch_size=batch_size), dtype=np.float32)
    if vecs.ndim != 2 or len(vecs) != len(uniq):
        raise ConfigError(f"embedder returned shape {vecs.shape} for {len(uniq)} texts")
    vecs /= np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
    return vecs[idx]


def _class_index(
    classes: Sequence[str],
    items: Sequence[Any],
    probs: list[list[float] | None],
    labels: list[str | None],
    what: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(rows, label indices, probs) of the items that have probabilities and a known label."""
    pos = {c: i for i, c in enumerate(classes)}
    rows, labs, ps = [], [], []
    for i, (p, lab) in enumerate(zip(probs, labels, strict=True)):
        if p is None or lab is None:
            continue
        if len(p) != len(classes):
            where = getattr(items[i], "where", "")
            raise InputError(
                f"{what} 'probs' has {len(p)} values but there are {len(classes)} classes "
                f"({', '.join(classes[:10])}...); pass classes= in probability order",
                path=where or None,
            )
        if lab not in pos:
            continue
        rows.append(i)
        labs.append(pos[lab])
        ps.append(p)
    if len(rows) < 2:
        return None
    return np.array(rows), np.array(labs), np.array(ps, dtype=float)


@dataclass(slots=True)
class Space:
    """The embedding space: neighbours of each eval and training input, coverage and its clusters."""

    tr_vecs: np.ndarray
    ev_nb: np.ndarray
    ev_sim: np.ndarray
    tr_nb: np.ndarray
    tr_sim: np.ndarray
    cov: np.ndarray  # coverage of each eval input
    coverage_threshold: float
    wrong: np.ndarray  # eval items the model got wrong
    clusters: list[Cluster]
    ev_cluster: np.ndarray
    sparse: set[int]  # clusters whose density ratio marks a sparse region
    sparse_cov: float  # the coverage an item of a sparse cluster must still fall under


def neighbourhoods(
    items: list[EvalItem],
    tr_vecs: np.ndarray,
    ev_vecs: np.ndarray,
    *,
    k: int,
    coverage_k: int,
    coverage_threshold: float | None,
    coverage_quantile: float,
    n_clusters: int | None,
) -> Space:
    """Nearest training inputs of every input, coverage scores and the coverage clusters of the eval set."""
    ev_nb, ev_sim = knn(ev_vecs, tr_vecs, k)
    tr_nb, tr_sim = knn(tr_vecs, tr_vecs, k, exclude_self=True)
    cov = coverage_scores(ev_sim[:, :coverage_k])
    train_cov = coverage_scores(tr_sim[:, :coverage_k])
    if coverage_threshold is None:
        coverage_threshold = float(np.quantile(train_cov, coverage_quantile)) if len(train_cov) else 0.0
    wrong = np.array([not x.correct for x in items])
    clusters, ev_cluster = cluster_coverage(ev_vecs, tr_vecs, wrong, cov, n_clusters=n_clusters)
    sparse = {c.id for c in clusters if c.density_ratio < 0.2}
    # in a sparse region an item also needs coverage in the bottom decile of the training set's own
    sparse_cov = float(np.quantile(train_cov, 0.1)) if len(train_cov) else 0.0
    return Space(
        tr_vecs=tr_vecs,
        ev_nb=ev_nb,
        ev_sim=ev_sim,
        tr_nb=tr_nb,
        tr_sim=tr_sim,
        cov=cov,
        coverage_threshold=coverage_threshold,
        wrong=wrong,
        clusters=clusters,
        ev_cluster=ev_cluster,
        sparse=sparse,
        sparse_cov=sparse_cov,
    )


@dataclass(slots=True)
class Labels:
    """What the label-noise phase found: the task's kind, the noisy training targets, flagged eval labels."""

    targets: list[str]  # normalised training targets
    classification: bool
    has_probs: bool
    classes: list[str]
    out_vecs: np.ndarray  # embedded targets (free-text outputs only)
    noisy: dict[int, NoisyTrain]
    eval_issues: list[dict[str, Any]]
    flagged_eval: dict[int, str]  # eval index -> the label it more likely has


def find_label_noise(
    items: list[EvalItem],
    train_items: list[TrainItem],
    space: Space,
    *,
    embedder: Any,
    classes: Sequence[str] | None,
    batch_size: int,
    near_sim: float,
    min_neighbours: int,
    majority: float,
) -> Labels:
    """Likely wrong training targets (confident learning, then neighbour disagreement) and eval labels."""
    targets = [norm_text(x.target) for x in train_items]
    distinct = len(set(targets))
    has_probs = any(x.probs is not None for x in items) or any(x.probs is not None for x in train_items)
    classification = has_probs or (distinct <= max(2, min(200, len(targets) // 5)))
    out_vecs = np.zeros((0, 0), dtype=np.float32)
    if not classification:  # free-text outputs are compared by meaning
        out_vecs = encode_unique(embedder, targets, batch_size)
    cls = list(classes) if classes is not None else sorted({x.target for x in train_items})
    noisy = _confident_train_issues(train_items, targets, cls, space, classification=classification)
    if classification:
        found = neighbour_disagreement(
            targets,
            space.tr_nb,
            space.tr_sim,
            min_sim=near_sim,
            min_neighbours=min_neighbours,
            majority=majority,
        )
    else:
        found = output_disagreement(
            targets,
            out_vecs,
            space.tr_nb,
            space.tr_sim,
            min_sim=near_sim,
            min_neighbours=min_neighbours,
            majority=majority,
        )
    for ne in found:
        if ne.index not in noisy:
            ti = train_items[ne.index]
            noisy[ne.index] = NoisyTrain(
                ne.index,
                ti.id,
                ti.input,
                ti.target,
                train_items[ne.neighbours[0]].target,
                ne.score,
                "neighbours",
            )
    eval_issues, flagged_eval = _eval_label_issues(items, cls)
    return Labels(
        targets=targets,
        classification=classification,
        has_probs=has_probs,
        classes=cls,
        out_vecs=out_vecs,
        noisy=noisy,
        eval_issues=eval_issues,
        flagged_eval=flagged_eval,
    )


def _confident_train_issues(
    train_items: list[TrainItem], targets: list[str], cls: list[str], space: Space, *, classification: bool
) -> dict[int, NoisyTrain]:
    """Confident learning over the training set: on the given probabilities, or (classification without
    probabilities) on leave-one-out kNN probabilities of the inputs."""
    noisy: dict[int, NoisyTrain] = {}
    if any(x.probs is not None for x in train_items):
        got = _class_index(
            cls, train_items, [x.probs for x in train_items], [x.target for x in train_items], "training"
        )
        if got is not None:
            rows, labs, ps = got
            quality = label_quality_scores(labs, ps)
            for r in find_label_issues(labs, ps, return_indices_ranked_by="self_confidence"):
                i = int(rows[r])
                noisy[i] = NoisyTrain(
                    i,
                    train_items[i].id,
                    train_items[i].input,
                    train_items[i].target,
                    cls[int(np.argmax(ps[r]))],
                    float(1 - quality[r]),
                    "confident_learning",
                )
    elif classification and len(set(targets)) >= 2:
        tcls = sorted(set(targets))
        pos = {t_: j for j, t_ in enumerate(tcls)}
        shown = {norm_text(x.target): x.target for x in train_items}
        y = np.array([pos[t_] for t_ in targets], dtype=np.int64)
        ps = knn_pred_probs(y, space.tr_nb, space.tr_sim, len(tcls))
        quality = label_quality_scores(y, ps)
        for r in find_label_issues(y, ps, return_indices_ranked_by="self_confidence"):
            ti = train_items[int(r)]
            noisy[int(r)] = NoisyTrain(
                int(r),
                ti.id,
                ti.input,
                ti.target,
                shown[tcls[int(np.argmax(ps[r]))]],
                float(1 - quality[r]),
                "confident_learning_knn",
            )
    return noisy


def _eval_label_issues(items: list[EvalItem], cls: list[str]) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """Expected answers of the eval set that confident learning over the model's probabilities flags."""
    eval_issues: list[dict[str, Any]] = []
    flagged_eval: dict[int, str] = {}
    if any(x.probs is not None for x in items):
        got = _class_index(cls, items, [x.probs for x in items], [x.expected for x in items], "result")
        if got is not None:
            rows, labs, ps = got
            quality = label_quality_scores(labs, ps)
            for r in find_label_issues(labs, ps, return_indices_ranked_by="self_confidence"):
                i = int(rows[r])
                likely = cls[int(np.argmax(ps[r]))]
                flagged_eval[i] = likely
                eval_issues.append(
                    {
                        "index": i,
                        "id": items[i].id,
                        "input": items[i].input[:500],
                        "expected": items[i].expected,
                        "likely": likely,
                        "score": float(1 - quality[r]),
                    }
                )
    return eval_issues, flagged_eval


@dataclass(slots=True)
class Inconsistency:
    """Conflicting near-duplicate groups and the annotator agreement of the judgements."""

    conflicts: list[ConflictGroup]
    in_conflict: dict[int, ConflictGroup]  # training index -> its group
    task_agreement: list[TaskAgreement]
    annotators: list[AnnotatorStats]
    low_tasks: dict[str, TaskAgreement]  # tasks whose annotators agree under ``low_agreement``


def find_inconsistency(
    train_items: list[TrainItem],
    fb: list[FeedbackItem],
    space: Space,
    labels: Labels,
    *,
    dup_sim: float,
    majority: float,
    min_neighbours: int,
    low_agreement: float,
) -> Inconsistency:
    """Near-duplicate training inputs with conflicting targets (their members leave ``labels.noisy`` unless
    outvoted) and per-task annotator agreement."""
    conflicts = conflicting_duplicates(
        [x.input for x in train_items],
        labels.targets,
        space.tr_vecs,
        space.tr_nb,
        space.tr_sim,
        dup_sim=dup_sim,
        majority=majority,
        min_majority=min_neighbours,
        out_vecs=None if labels.classification else labels.out_vecs,
    )
    in_conflict = {m: g for g in conflicts for m in g.members}
    noisy = labels.noisy
    for m in in_conflict:  # near copies split without a majority: inconsistency, not one side's noise,
        if m in noisy and not (noisy[m].method != "neighbours" and noisy[m].score >= _OUTVOTED):
            del noisy[m]  # unless the wider neighbourhood (or the model) outvotes the label
    task_agr, annotators = annotator_agreement(fb) if fb else ([], [])
    low_tasks = {ta.task: ta for ta in task_agr if ta.agreement < low_agreement}
    return Inconsistency(
        conflicts=conflicts,
        in_conflict=in_conflict,
        task_agreement=task_agr,
        annotators=annotators,
        low_tasks=low_tasks,
    )

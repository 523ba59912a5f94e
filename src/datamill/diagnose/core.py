"""The diagnosis: attribute each model mistake to data causes, with evidence.

    never_seen             the training set barely covers the input (low neighbour similarity / sparse region)
    noisy_label            a near training example the model copied is mislabelled, or the expected label itself is wrong
    inconsistent_label     near-duplicate training inputs carry conflicting targets, or annotators disagreed
    contradictory_context  the context passages given with the prompt contradict each other

A mistake with several causes is a "combination"; one with none is "unexplained".
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from datamill.diagnose.contradictions import Contradiction, find_contradictions
from datamill.diagnose.coverage import Cluster, cluster_coverage, coverage_scores, knn, project_2d
from datamill.diagnose.inconsistency import (
    AnnotatorStats,
    ConflictGroup,
    TaskAgreement,
    annotator_agreement,
    conflicting_duplicates,
    overall_agreement,
)
from datamill.diagnose.inputs import (
    EvalItem,
    FeedbackItem,
    TrainItem,
    merge_contexts,
    read_contexts,
    read_feedback,
    read_results,
    read_train,
)
from datamill.diagnose.label_noise import (
    find_label_issues,
    knn_pred_probs,
    label_quality_scores,
    neighbour_disagreement,
    output_disagreement,
)
from datamill.diagnose.result import CAUSES, Diagnosis, Mistake, NoisyTrain
from datamill.errors import ConfigError, InputError

__all__ = ["CAUSES", "Diagnosis", "Mistake", "NoisyTrain", "diagnose"]

# a member of a conflicting near-duplicate pair is still label noise when confident learning gives its
# label at most this self-confidence (1 - score): a single flip next to one twin, not an ambiguous input
_OUTVOTED = 0.9


def _norm(text: str | None) -> str:
    return " ".join((text or "").lower().split())


def _encode(embedder: Any, texts: Sequence[str], batch_size: int) -> np.ndarray:
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


def diagnose(
    results: Any,
    train: Any,
    *,
    feedback: Any = None,
    contexts: Any = None,
    embedder: Any = "all-MiniLM-L6-v2",
    classes: Sequence[str] | None = None,
    k: int = 10,
    coverage_k: int = 5,
    coverage_threshold: float | None = None,
    coverage_quantile: float = 0.01,
    near_sim: float = 0.8,
    dup_sim: float = 0.92,
    majority: float = 0.75,
    min_neighbours: int = 3,
    low_agreement: float = 0.6,
    n_clusters: int | None = None,
    judge: Callable[[str, str], bool] | None = None,
    batch_size: int = 64,
    progress: Callable[[str], None] | None = None,
) -> Diagnosis:
    """Trace a model's mistakes to data causes.

    Args:
        results: evaluation results (path or rows/records; see :func:`~datamill.diagnose.read_results`).
        train: the training set (path, HF dataset, rows or records; see :func:`~datamill.diagnose.read_train`).
        feedback: optional judgements (path or rows) whose ``task`` ids are training or result ids.
        contexts: optional context passages per result id (path, rows, or ``{id: [passages]}``).
        embedder: a local sentence-transformers model name/folder, or any object with ``encode(texts)``.
        classes: class names in the column order of ``probs`` (default: sorted training labels).
        k: neighbours kept per item.
        coverage_k: neighbours averaged into the coverage score.
        coverage_threshold: coverage under which a mistake was "never seen"; default: the
            ``coverage_quantile`` of the training set's own leave-one-out coverage.
        near_sim: similarity from which a training example is a near neighbour (noise evidence).
        dup_sim: similarity from which two inputs are near duplicates (inconsistency evidence).
        majority, min_neighbours: a target disagreeing with at least ``majority`` of at least
            ``min_neighbours`` near neighbours is label noise.
        low_agreement: per-item annotator agreement under which labelling was inconsistent.
        n_clusters: eval-set clusters for the coverage map (default ~sqrt(n/2)).
        judge: optional ``judge(a, b) -> bool`` for context contradictions the rules do not decide.
        progress: optional callback told each phase's name.
    """
    say = progress or (lambda _s: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    items, train_items, fb = _read_inputs(results, train, feedback, contexts)
    timings["read"] = time.perf_counter() - t0

    say("embedding")
    with _timed(timings, "embed"):
        embedder = _load_embedder(embedder)
        tr_vecs = _encode(embedder, [x.input for x in train_items], batch_size)
        ev_vecs = _encode(embedder, [x.input for x in items], batch_size)

    say("neighbours")
    with _timed(timings, "coverage"):
        space = _neighbourhoods(
            items,
            tr_vecs,
            ev_vecs,
            k=k,
            coverage_k=coverage_k,
            coverage_threshold=coverage_threshold,
            coverage_quantile=coverage_quantile,
            n_clusters=n_clusters,
        )

    say("label noise")
    with _timed(timings, "label_noise"):
        labels = _label_noise(
            items,
            train_items,
            space,
            embedder=embedder,
            classes=classes,
            batch_size=batch_size,
            near_sim=near_sim,
            min_neighbours=min_neighbours,
            majority=majority,
        )

    say("inconsistency")
    with _timed(timings, "inconsistency"):
        inc = _inconsistency(
            train_items,
            fb,
            space,
            labels,
            dup_sim=dup_sim,
            majority=majority,
            min_neighbours=min_neighbours,
            low_agreement=low_agreement,
        )

    say("contradictions")
    with _timed(timings, "contradictions"):
        contra = {
            x.id: pairs
            for x in items
            if x.contexts and (pairs := find_contradictions(x.contexts, judge=judge))
        }

    say("attribution")
    mistakes = [
        _attribute(
            i,
            items[i],
            train_items,
            space,
            labels,
            inc,
            contra,
            near_sim=near_sim,
            dup_sim=dup_sim,
            majority=majority,
        )
        for i in np.flatnonzero(space.wrong).tolist()
    ]
    known = {x.id for x in train_items} | {x.id for x in items}
    unused = [tid for tid in inc.low_tasks if tid not in known]
    proj = _projection(tr_vecs, ev_vecs, space.wrong)
    timings["total"] = time.perf_counter() - t0
    settings = {
        "embedder": getattr(embedder, "name", type(embedder).__name__),
        "k": k,
        "coverage_k": coverage_k,
        "near_sim": near_sim,
        "dup_sim": dup_sim,
        "majority": majority,
        "min_neighbours": min_neighbours,
        "low_agreement": low_agreement,
        "mode": "classification" if labels.classification else "generative",
        "classes": labels.classes if labels.has_probs else None,
        "feedback_tasks_not_found": unused[:50],
    }
    return Diagnosis(
        results=items,
        train=train_items,
        mistakes=mistakes,
        clusters=space.clusters,
        noisy_train=sorted(labels.noisy.values(), key=lambda n: -n.score),
        eval_label_issues=labels.eval_issues,
        conflicts=inc.conflicts,
        task_agreement=inc.task_agreement,
        annotators=inc.annotators,
        contradictions=contra,
        coverage_threshold=float(space.coverage_threshold),
        projection=proj,
        settings=settings,
        timings=timings,
        agreement=overall_agreement(fb) if fb else {},
    )


@contextmanager
def _timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    """Record the seconds the block takes under ``timings[phase]``."""
    t = time.perf_counter()
    yield
    timings[phase] = time.perf_counter() - t


def _load_embedder(embedder: Any) -> Any:
    """A model name or folder as a sentence-transformers embedder; anything else as is."""
    if isinstance(embedder, str):
        from datamill.embed import get_embedder

        return get_embedder(embedder)
    return embedder


def _read_inputs(
    results: Any, train: Any, feedback: Any, contexts: Any
) -> tuple[list[EvalItem], list[TrainItem], list[FeedbackItem]]:
    """The eval results (with their context passages merged in), the training set and the judgements."""
    items = read_results(results)
    train_items = read_train(train)
    if contexts is not None:
        merge_contexts(items, contexts if isinstance(contexts, dict) else read_contexts(contexts))
    fb: list[FeedbackItem] = read_feedback(feedback) if feedback is not None else []
    return items, train_items, fb


@dataclass(slots=True)
class _Space:
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


def _neighbourhoods(
    items: list[EvalItem],
    tr_vecs: np.ndarray,
    ev_vecs: np.ndarray,
    *,
    k: int,
    coverage_k: int,
    coverage_threshold: float | None,
    coverage_quantile: float,
    n_clusters: int | None,
) -> _Space:
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
    return _Space(
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
class _Labels:
    """What the label-noise phase found: the task's kind, the noisy training targets, flagged eval labels."""

    targets: list[str]  # normalised training targets
    classification: bool
    has_probs: bool
    classes: list[str]
    out_vecs: np.ndarray  # embedded targets (free-text outputs only)
    noisy: dict[int, NoisyTrain]
    eval_issues: list[dict[str, Any]]
    flagged_eval: dict[int, str]  # eval index -> the label it more likely has


def _label_noise(
    items: list[EvalItem],
    train_items: list[TrainItem],
    space: _Space,
    *,
    embedder: Any,
    classes: Sequence[str] | None,
    batch_size: int,
    near_sim: float,
    min_neighbours: int,
    majority: float,
) -> _Labels:
    """Likely wrong training targets (confident learning, then neighbour disagreement) and eval labels."""
    targets = [_norm(x.target) for x in train_items]
    distinct = len(set(targets))
    has_probs = any(x.probs is not None for x in items) or any(x.probs is not None for x in train_items)
    classification = has_probs or (distinct <= max(2, min(200, len(targets) // 5)))
    out_vecs = np.zeros((0, 0), dtype=np.float32)
    if not classification:  # free-text outputs are compared by meaning
        out_vecs = _encode(embedder, targets, batch_size)
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
    return _Labels(
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
    train_items: list[TrainItem], targets: list[str], cls: list[str], space: _Space, *, classification: bool
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
        shown = {_norm(x.target): x.target for x in train_items}
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
class _Inconsistency:
    """Conflicting near-duplicate groups and the annotator agreement of the judgements."""

    conflicts: list[ConflictGroup]
    in_conflict: dict[int, ConflictGroup]  # training index -> its group
    task_agreement: list[TaskAgreement]
    annotators: list[AnnotatorStats]
    low_tasks: dict[str, TaskAgreement]  # tasks whose annotators agree under ``low_agreement``


def _inconsistency(
    train_items: list[TrainItem],
    fb: list[FeedbackItem],
    space: _Space,
    labels: _Labels,
    *,
    dup_sim: float,
    majority: float,
    min_neighbours: int,
    low_agreement: float,
) -> _Inconsistency:
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
    return _Inconsistency(
        conflicts=conflicts,
        in_conflict=in_conflict,
        task_agreement=task_agr,
        annotators=annotators,
        low_tasks=low_tasks,
    )


def _attribute(
    i: int,
    x: EvalItem,
    train_items: list[TrainItem],
    space: _Space,
    labels: _Labels,
    inc: _Inconsistency,
    contra: dict[str, list[Contradiction]],
    *,
    near_sim: float,
    dup_sim: float,
    majority: float,
) -> Mistake:
    """Mistake ``i`` with each cause that explains it and the evidence for it."""
    nbs = [
        {
            "index": int(j),
            "id": train_items[j].id,
            "input": train_items[j].input[:300],
            "target": train_items[j].target,
            "similarity": round(float(s), 4),
        }
        for j, s in zip(space.ev_nb[i], space.ev_sim[i], strict=True)
        if j >= 0
    ]
    near = [n for n in nbs if n["similarity"] >= near_sim]
    c = int(space.ev_cluster[i]) if len(space.ev_cluster) else -1
    ev: dict[str, Any] = {}
    unseen = _never_seen(i, c, nbs, space, near_sim=near_sim)
    if unseen is not None:
        ev["never_seen"] = unseen
    # near neighbours split between targets without a strong majority: inconsistent labelling,
    # and no side of the split counts as the noisy one
    votes: Counter[str] = Counter(_norm(n["target"]) for n in near) if labels.classification else Counter()
    mixed = near if len(votes) > 1 and votes.most_common(1)[0][1] / len(near) < majority else []
    noisy_label = _noisy_label(i, x, near, {n["index"] for n in mixed}, labels)
    if noisy_label is not None:
        ev["noisy_label"] = noisy_label
    inconsistent = _inconsistent_label(x, nbs, near, mixed, train_items, labels, inc, dup_sim=dup_sim)
    if inconsistent is not None:
        ev["inconsistent_label"] = inconsistent
    if x.id in contra:
        ev["contradictory_context"] = [asdict(cd) for cd in contra[x.id]]
    return Mistake(
        index=i,
        id=x.id,
        input=x.input,
        expected=x.expected,
        output=x.output,
        coverage=float(space.cov[i]),
        cluster=c,
        causes=list(ev),
        neighbours=nbs[:5],
        evidence=ev,
    )


def _never_seen(
    i: int, cluster: int, nbs: list[dict[str, Any]], space: _Space, *, near_sim: float
) -> dict[str, Any] | None:
    """Evidence that mistake ``i``'s input is barely covered by the training set, unless a near copy was seen."""
    cov = space.cov[i]
    unseen = cov < space.coverage_threshold or (cluster in space.sparse and cov < space.sparse_cov)
    if not unseen or (nbs and nbs[0]["similarity"] >= near_sim):
        return None
    return {
        "coverage": float(cov),
        "threshold": space.coverage_threshold,
        "cluster": cluster,
        "sparse_cluster": cluster in space.sparse,
    }


def _noisy_label(
    i: int, x: EvalItem, near: list[dict[str, Any]], split_ids: set[int], labels: _Labels
) -> dict[str, Any] | None:
    """Evidence that a noisy near training example taught the mistake, or that the expected label is wrong."""
    noisy, classification = labels.noisy, labels.classification
    out_norm = _norm(x.output)
    noisy_near = [
        {**n, "suggested": noisy[n["index"]].suggested, "method": noisy[n["index"]].method}
        for n in near
        if n["index"] in noisy
        and n["index"] not in split_ids
        and (
            not out_norm
            or _norm(n["target"]) == out_norm
            or (not classification and n["target"] != x.expected)
        )
    ]
    if not noisy_near and i not in labels.flagged_eval:
        return None
    return {
        "training_examples": noisy_near,
        "expected_label_issue": (
            {"expected": x.expected, "likely": labels.flagged_eval[i]} if i in labels.flagged_eval else None
        ),
    }


def _inconsistent_label(
    x: EvalItem,
    nbs: list[dict[str, Any]],
    near: list[dict[str, Any]],
    mixed: list[dict[str, Any]],
    train_items: list[TrainItem],
    labels: _Labels,
    inc: _Inconsistency,
    *,
    dup_sim: float,
) -> dict[str, Any] | None:
    """Evidence of inconsistent labelling around the mistake: conflicting duplicate groups, near copies whose
    target differs from the expected one, split neighbours, tasks the annotators disagreed on."""
    groups = {
        id(inc.in_conflict[n["index"]]): inc.in_conflict[n["index"]]
        for n in near
        if n["index"] in inc.in_conflict
    }
    out_norm = _norm(x.output)
    cross = [
        n
        for n in nbs
        if n["similarity"] >= dup_sim
        and n["index"] not in labels.noisy
        and n["index"] not in inc.in_conflict
        and x.expected is not None
        and _norm(n["target"]) != _norm(x.expected)
        and (labels.classification or _norm(n["target"]) == out_norm)
    ]
    tasks = [inc.low_tasks[tid] for tid in [x.id] + [n["id"] for n in near] if tid in inc.low_tasks]
    if not (groups or cross or mixed or tasks):
        return None
    return {
        "conflicting_groups": [
            {t_: [train_items[j].id for j in ms] for t_, ms in g.targets.items()} for g in groups.values()
        ],
        "train_vs_expected": cross,
        "conflicting_neighbours": mixed,
        "low_agreement_tasks": [asdict(ta) for ta in tasks],
    }


def _projection(
    tr_vecs: np.ndarray, ev_vecs: np.ndarray, wrong: np.ndarray, *, cap: int = 1500
) -> dict[str, Any]:
    """2-D points for the coverage map: a sample of training inputs, eval correct, eval mistakes."""
    rng = np.random.default_rng(0)
    tr_idx = np.sort(rng.choice(len(tr_vecs), size=min(cap, len(tr_vecs)), replace=False))
    ev_idx = np.sort(rng.choice(len(ev_vecs), size=min(cap, len(ev_vecs)), replace=False))
    pts = project_2d(np.vstack([tr_vecs[tr_idx], ev_vecs[ev_idx]]))
    tr_pts, ev_pts = pts[: len(tr_idx)], pts[len(tr_idx) :]
    w = wrong[ev_idx]
    r = lambda a: np.round(a, 4).tolist()  # noqa: E731
    return {
        "train": r(tr_pts),
        "correct": r(ev_pts[~w]),
        "mistakes": r(ev_pts[w]),
        "mistake_index": ev_idx[w].tolist(),
    }

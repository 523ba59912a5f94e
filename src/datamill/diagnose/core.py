"""The diagnosis: attribute each model mistake to data causes, with evidence.

    never_seen             the training set barely covers the input (low neighbour similarity / sparse region)
    noisy_label            a near training example the model copied is mislabelled, or the expected label itself is wrong
    inconsistent_label     near-duplicate training inputs carry conflicting targets, or annotators disagreed
    contradictory_context  the context passages given with the prompt contradict each other

A mistake with several causes is a "combination"; one with none is "unexplained".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from datamill.diagnose.attribute import attribute
from datamill.diagnose.coverage import project_2d
from datamill.diagnose.evidence import (
    encode_unique,
    find_inconsistency,
    find_label_noise,
    neighbourhoods,
)
from datamill.diagnose.inconsistency import (
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
from datamill.diagnose.result import CAUSES, Diagnosis, Mistake, NoisyTrain
from datamill.diagnose.scan import scan_contradictions

__all__ = ["CAUSES", "Diagnosis", "Mistake", "NoisyTrain", "diagnose"]


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
    detector: str = "rules",
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
        detector: how context contradictions are found: ``rules`` (the default), ``learned``, ``judge`` or
            ``combined`` (rules + the learned detector, + the judge when one is given); see
            :func:`~datamill.diagnose.find_contradictions`.
        judge: optional ``judge(a, b) -> bool`` for context contradictions the others do not decide.
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
        tr_vecs = encode_unique(embedder, [x.input for x in train_items], batch_size)
        ev_vecs = encode_unique(embedder, [x.input for x in items], batch_size)

    say("neighbours")
    with _timed(timings, "coverage"):
        space = neighbourhoods(
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
        labels = find_label_noise(
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
        inc = find_inconsistency(
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
        ctxs = {x.id: x.contexts for x in items if x.contexts}
        contra = (
            scan_contradictions(ctxs, detector=detector, judge=judge, batch_size=batch_size).found
            if ctxs
            else {}
        )

    say("attribution")
    mistakes = [
        attribute(
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
        "contradiction_detector": detector,
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

"""Filter documents with a trained classifier: a threshold per document, or the top fraction of all.

* :class:`ClassifierFilter` (``filter.classifier``): keeps a document whose score is at or above
  ``threshold`` (``keep="high"``, quality) or below it (``keep="low"``, toxicity). Shard-local: the same
  documents are kept whatever the shards or the executor.
* :class:`ClassifierTopFraction` (``filter.classifier_top``): keeps exactly the best ``top_fraction`` of
  all documents across shards, a global step: each shard's scores are collected, one reduce ranks them
  (ties broken by shard, then position) and marks the kept ones, then each shard drops the rest. A
  per-shard quantile would keep a different set with each sharding, so it is not offered.

Both write the score to ``metadata[score_key]`` (default: the model's ``"<name>_score"``), name the
model in ``provenance.extra["selected_by"]`` of each kept document (so ``datamill lineage`` follows a
kept document to the model and the labels it learned from), and count drops under
``classifier_below_threshold`` / ``classifier_above_threshold`` / ``classifier_not_top_fraction``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from datamill.errors import ConfigError
from datamill.pipeline.step import GlobalStep, Step
from datamill.pipeline.steps import record_text
from datamill.pretrain.classifier import TextClassifier
from datamill.records import Record

__all__ = ["ClassifierFilter", "ClassifierTopFraction", "ScoreMixin", "classify_pipeline"]

_KEEPS = ("high", "low")
_BINS = 20


def _batches(records: Iterable[Record], n: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


class ScoreMixin:
    """Loads the model on first use and scores records in batches, writing the score into metadata."""

    model: str
    field: str
    batch_size: int
    _score_key: str | None
    _clf: TextClassifier | None

    def _init_model(self, model: str, score_key: str | None, field: str, batch_size: int) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size!r}", params="batch_size")
        self.model, self._score_key, self.field, self.batch_size = model, score_key, field, batch_size
        self._clf = None

    @property
    def classifier(self) -> TextClassifier:
        if self._clf is None:
            self._clf = TextClassifier.load(self.model)
        return self._clf

    @property
    def score_key(self) -> str:
        return self._score_key or str(self.classifier.info.get("score_key") or "classifier_score")

    def _bins(self) -> tuple[float, float]:
        lr = self.classifier.label_range
        return (float(lr[0]), float(lr[1])) if lr else (0.0, 1.0)

    def count_scores(self, scores: np.ndarray) -> None:
        """Add ``scores`` to the step's histogram counters (``score>=EDGE``, 20 bins over the score range),
        which sum across shards into the manifest and the report."""
        lo, hi = self._bins()
        width = (hi - lo) / _BINS or 1.0
        idx = np.clip(((scores - lo) // width).astype(np.int64), 0, _BINS - 1)
        counters = self.stats.counters  # type: ignore[attr-defined]
        for i, n in zip(*np.unique(idx, return_counts=True), strict=True):
            counters[f"score>={lo + int(i) * width:.4g}"] += int(n)

    def note_dropped(self, reason: str, rec: Record, score: float) -> None:
        """Count a drop; its examples are the dropped documents closest to the cut (the highest scores
        when high scores are kept, else the lowest), with their scores."""
        st = self.stats  # type: ignore[attr-defined]
        st.dropped[reason] += 1
        ex = st.examples.setdefault(reason, [])
        item = {"id": rec.id, "snippet": record_text(rec, self.field)[:200], "score": round(score, 6)}
        sign = 1.0 if getattr(self, "keep", "high") == "high" else -1.0
        if len(ex) < 3:
            ex.append(item)
            return
        worst = min(range(len(ex)), key=lambda i: sign * ex[i]["score"])
        if sign * score > sign * ex[worst]["score"]:
            ex[worst] = item

    def score(self, batch: list[Record]) -> np.ndarray:
        """Score ``batch``, write each score into its record's metadata and name the model in provenance."""
        clf = self.classifier
        scores = clf.scores([record_text(r, self.field) for r in batch])
        key, model_id = self.score_key, clf.info.get("model_id")
        for rec, s in zip(batch, scores.tolist(), strict=True):
            rec.metadata[key] = round(s, 6)
            if model_id:
                sel = rec.provenance.extra.setdefault("selected_by", [])
                if model_id not in sel:
                    sel.append(model_id)
        return scores


class ClassifierFilter(ScoreMixin, Step[Record]):
    """Keep documents whose classifier score is >= ``threshold`` (``keep="high"``) or < it (``"low"``).

    Args:
        model: the folder ``train_classifier`` wrote.
        threshold: the cut (default: the model's suggested threshold, from its training).
        keep: ``"high"`` keeps scores at or above the threshold (quality), ``"low"`` below it (toxicity).
        score_key: the metadata key of the score (default: the model's ``"<name>_score"``).
        field: the text field scored; batch_size: documents scored at once.
    """

    name = "filter.classifier"

    def __init__(
        self,
        *,
        model: str,
        threshold: float | None = None,
        keep: str = "high",
        score_key: str | None = None,
        field: str = "text",
        batch_size: int = 512,
    ) -> None:
        if keep not in _KEEPS:
            raise ConfigError(f"keep must be one of {', '.join(_KEEPS)}, got {keep!r}", params="keep")
        self._init_model(model, score_key, field, batch_size)
        self._threshold, self.keep = threshold, keep

    @property
    def threshold(self) -> float:
        if self._threshold is not None:
            return float(self._threshold)
        thr = self.classifier.info.get("threshold")
        if thr is None:
            raise ConfigError(
                f"model {self.model} suggests no threshold: give threshold=", params="threshold"
            )
        return float(thr)

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        st, thr = self.stats, self.threshold
        reason = "classifier_below_threshold" if self.keep == "high" else "classifier_above_threshold"
        for batch in _batches(records, self.batch_size):
            t0 = time.perf_counter()
            scores = self.score(batch)
            self.count_scores(scores)
            st.seconds += time.perf_counter() - t0
            keep = scores >= thr if self.keep == "high" else scores < thr
            for rec, ok, s in zip(batch, keep.tolist(), scores.tolist(), strict=True):
                st.seen += 1
                if ok:
                    st.kept += 1
                    yield rec
                else:
                    self.note_dropped(reason, rec, s)


class ClassifierTopFraction(ScoreMixin, GlobalStep[Record]):
    """Keep exactly ``ceil(top_fraction * N)`` of all N documents: the highest scores (``keep="high"``)
    or the lowest (``"low"``), across every shard; ties are broken by shard, then position."""

    name = "filter.classifier_top"
    reason = "classifier_not_top_fraction"

    def __init__(
        self,
        *,
        model: str,
        top_fraction: float,
        keep: str = "high",
        score_key: str | None = None,
        field: str = "text",
        batch_size: int = 512,
    ) -> None:
        if not 0 < top_fraction <= 1:
            raise ConfigError(f"top_fraction must be in (0, 1], got {top_fraction!r}", params="top_fraction")
        if keep not in _KEEPS:
            raise ConfigError(f"keep must be one of {', '.join(_KEEPS)}, got {keep!r}", params="keep")
        self._init_model(model, score_key, field, batch_size)
        self.top_fraction, self.keep = top_fraction, keep

    def _kept(self, scores: np.ndarray, shards: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """A mask of the documents kept: the ``top_fraction`` best by score, ties by (shard, position)."""
        n = len(scores)
        k = min(n, math.ceil(self.top_fraction * n - 1e-9))
        key = -scores if self.keep == "high" else scores
        order = np.lexsort((positions, shards, key))
        mask = np.zeros(n, dtype=bool)
        mask[order[:k]] = True
        return mask

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        recs: list[Record] = []
        parts: list[np.ndarray] = []
        t0 = time.perf_counter()
        for batch in _batches(records, self.batch_size):
            parts.append(self.score(batch))
            recs.extend(batch)
        scores = np.concatenate(parts) if parts else np.zeros(0)
        mask = self._kept(scores, np.zeros(len(recs), np.int64), np.arange(len(recs)))
        self.stats.seconds += time.perf_counter() - t0
        yield from self._emit(recs, mask.tolist())

    def _emit(self, records: Iterable[Record], keep: list[bool]) -> Iterator[Record]:
        st = self.stats
        for batch in _batches(records, self.batch_size):
            scores = np.asarray([float(r.metadata.get(self.score_key, 0.0)) for r in batch])
            self.count_scores(scores)
            mine, keep = keep[: len(batch)], keep[len(batch) :]
            for rec, ok, s in zip(batch, mine, scores.tolist(), strict=True):
                st.seen += 1
                if ok:
                    st.kept += 1
                    yield rec
                else:
                    self.note_dropped(self.reason, rec, s)

    def collect(self, records: Iterable[Record], *, shard: int, workdir: str) -> Iterator[Record]:
        parts: list[np.ndarray] = []
        for batch in _batches(records, self.batch_size):
            t0 = time.perf_counter()
            parts.append(self.score(batch))
            self.stats.counters["scored"] += len(batch)
            self.stats.seconds += time.perf_counter() - t0
            yield from batch
        scores = np.concatenate(parts) if parts else np.zeros(0)
        np.save(os.path.join(workdir, f"scores-{shard:05d}.npy"), scores)

    def reduce(self, *, workdir: str, num_shards: int) -> dict[str, Any]:
        per = [np.load(os.path.join(workdir, f"scores-{s:05d}.npy")) for s in range(num_shards)]
        scores = np.concatenate(per) if per else np.zeros(0)
        shards = np.concatenate([np.full(len(p), s, np.int64) for s, p in enumerate(per)]) if per else scores
        positions = np.concatenate([np.arange(len(p)) for p in per]) if per else scores
        mask = self._kept(scores, shards.astype(np.int64), positions.astype(np.int64))
        start = 0
        for s, p in enumerate(per):
            np.save(os.path.join(workdir, f"keep-{s:05d}.npy"), mask[start : start + len(p)])
            start += len(p)
        kept = scores[mask]
        cut = (float(kept.min()) if self.keep == "high" else float(kept.max())) if kept.size else None
        return {"documents": int(len(scores)), "kept": int(mask.sum()), "score_cut": cut}

    def apply(self, records: Iterable[Record], *, shard: int, workdir: str) -> Iterator[Record]:
        keep = np.load(os.path.join(workdir, f"keep-{shard:05d}.npy")).tolist()
        yield from self._emit(records, keep)


def classify_pipeline(
    inputs: str | list[str],
    *,
    model: str,
    threshold: float | None = None,
    top_fraction: float | None = None,
    keep: str = "high",
    score_key: str | None = None,
    output_format: str = "parquet",
) -> Any:
    """Score documents with a trained classifier and keep those past ``threshold`` (shard-local) or the
    ``top_fraction`` of all (a global step); web inputs are extracted first."""
    from datamill.pipeline import Pipeline, Writer
    from datamill.pretrain.extract import Extract
    from datamill.pretrain.run import _is_web, make_reader

    if threshold is not None and top_fraction is not None:
        raise ConfigError("give threshold or top_fraction, not both", params=("threshold", "top_fraction"))
    reader = make_reader(inputs)
    steps: list[Step] = [Extract()] if _is_web(reader) else []
    if top_fraction is not None:
        steps.append(
            ClassifierTopFraction(model=model, top_fraction=top_fraction, keep=keep, score_key=score_key)
        )
    else:
        steps.append(ClassifierFilter(model=model, threshold=threshold, keep=keep, score_key=score_key))
    return Pipeline(steps, reader=reader, writer=Writer(format=output_format))

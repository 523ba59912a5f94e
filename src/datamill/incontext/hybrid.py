"""Hybrid retrieval: BM25 and dense candidates fused into one ranking, and the fusion tuned on a
user's own labelled queries.

Each retriever proposes its top 100 chunks (``k`` if more); every candidate gets its exact dense cosine, its
BM25 score where BM25 retrieved it, and the two are combined. ``fusion="weighted"`` (default) is a
convex combination of min-max normalised scores, ``alpha`` on the dense side (Bruch et al. 2023
found it beats RRF once tuned); ``fusion="rrf"`` is reciprocal rank fusion. The default ``alpha=0.9``
was chosen across public BEIR-format sets, leaving each out in turn (benchmarks/incontext_hybrid.py,
docs/incontext.md): with all-MiniLM-L6-v2 dense retrieval was well ahead of BM25 on all of them, every
lower alpha and RRF lost nDCG@10 against dense alone on at least one, and 0.9 lost at most 0.003 (it
mostly keeps dense's order and lets BM25 break near-ties). Where BM25 is stronger, tune:
:func:`tune_fusion` picks the fusion and ``alpha`` that maximise nDCG@10 on dev queries, and
:func:`cross_fit_fusion` scores that tuning on queries it was not tuned on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from datamill.errors import ConfigError
from datamill.incontext._base import Index
from datamill.incontext.bm25 import BM25Index
from datamill.incontext.dense import DenseIndex
from datamill.records import Document

__all__ = ["FusionTuning", "HybridIndex", "cross_fit_fusion", "tune_fusion"]

FUSIONS = ("weighted", "rrf")
DEFAULT_ALPHA = 0.9
CANDIDATES = 100  # each retriever proposes its top 100 (or k, if more) for fusion
_DENSE_KEYS = ("backend", "quantize", "max_seq_length", "ann_threshold", "connectivity", "ef_search")


@dataclass
class _Candidates:
    """One query's fused candidates: positions, normalised dense and BM25 scores, and ranks."""

    pos: np.ndarray
    dense: np.ndarray
    bm25: np.ndarray
    dense_rank: np.ndarray
    bm25_rank: np.ndarray


def _minmax(x: np.ndarray, present: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    if present.any():
        lo, hi = float(x[present].min()), float(x[present].max())
        out[present] = (x[present] - lo) / (hi - lo) if hi > lo else 1.0
    return out


def _fuse(c: _Candidates, fusion: str, alpha: float, rrf_k: int, k: int) -> list[tuple[int, float]]:
    if fusion == "rrf":
        s = 1.0 / (rrf_k + c.dense_rank) + np.where(c.bm25_rank > 0, 1.0 / (rrf_k + c.bm25_rank), 0.0)
    else:
        s = alpha * c.dense + (1 - alpha) * c.bm25
    order = np.lexsort((c.pos, -s))[:k]
    return [(int(c.pos[o]), float(s[o])) for o in order]


class HybridIndex(Index):
    """BM25 and dense together (see the module docstring for the fusion)."""

    kind = "hybrid"

    def __init__(
        self,
        chunks: Sequence[Document] = (),
        *,
        fusion: Literal["rrf", "weighted"] = "weighted",
        alpha: float = DEFAULT_ALPHA,
        rrf_k: int = 60,
        model: str = "all-MiniLM-L6-v2",
        bm25: dict[str, Any] | None = None,
        dense: dict[str, Any] | None = None,
    ) -> None:
        if fusion not in FUSIONS:
            raise ConfigError(f"fusion must be 'rrf' or 'weighted', got {fusion!r}", params="fusion")
        if not 0 <= alpha <= 1:
            raise ConfigError(f"alpha must be in [0, 1], got {alpha!r}", params="alpha")
        extra = set(dense or {}) - set(_DENSE_KEYS)
        if extra:
            raise ConfigError(f"dense= takes {', '.join(_DENSE_KEYS)}; got {', '.join(sorted(extra))}")
        super().__init__(
            chunks, fusion=fusion, alpha=alpha, rrf_k=rrf_k, model=model, bm25=bm25 or {}, dense=dense or {}
        )
        self.bm25 = BM25Index(self.chunks, **(bm25 or {}))
        self.dense = DenseIndex(self.chunks, model=model, **(dense or {}))
        self.bm25.chunks = self.dense.chunks = self.chunks  # one list, grown once by add()

    @classmethod
    def of(cls, bm25: BM25Index, dense: DenseIndex, **params: Any) -> HybridIndex:
        """A hybrid over two indexes already built on the same chunks (nothing is re-embedded)."""
        idx = cls(model=dense.params["model"], bm25=dict(bm25.params), **params)
        idx.chunks, idx.bm25, idx.dense = bm25.chunks, bm25, dense
        dense.chunks = bm25.chunks
        return idx

    def _grow(self, new: list[Document]) -> None:
        self.bm25._grow(new)
        self.dense._grow(new)

    def _shrink(self, keep: np.ndarray) -> None:
        self.bm25._shrink(keep)
        self.dense._shrink(keep)

    def _set_chunks(self, chunks: list[Document]) -> None:
        self.chunks = self.bm25.chunks = self.dense.chunks = chunks

    def _scores(self, query: str, k: int) -> list[tuple[int, float]]:
        return self._scores_batch([query], k)[0]

    def candidates(self, queries: Sequence[str], k: int) -> list[_Candidates]:
        """Each query's candidates from both retrievers with their normalised scores and ranks."""
        n = len(self.chunks)
        depth = min(n, max(k, CANDIDATES))  # not grown with k: the top 10 is the same whatever k
        qv = self.dense._embedder().encode(list(queries))
        lexical = self.bm25._scores_batch(queries, depth)
        semantic = self.dense.search_vectors(qv, depth)
        out = []
        for q, lex, sem in zip(qv, lexical, semantic, strict=True):
            pos = np.unique(np.array([i for i, _ in lex] + [i for i, _ in sem], dtype=np.int64))
            d = np.asarray(self.dense.vectors[pos]) @ q if len(pos) else np.zeros(0, np.float32)
            b = np.zeros(len(pos), np.float32)
            b_rank = np.zeros(len(pos), np.int64)
            where = {p: j for j, p in enumerate(pos.tolist())}
            for r, (i, s) in enumerate(lex):
                b[where[i]], b_rank[where[i]] = s, r + 1
            d_rank = np.empty(len(pos), np.int64)
            d_rank[np.lexsort((pos, -d))] = np.arange(1, len(pos) + 1)
            out.append(
                _Candidates(pos, _minmax(d, np.ones(len(pos), bool)), _minmax(b, b_rank > 0), d_rank, b_rank)
            )
        return out

    def _scores_batch(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        p = self.params
        return [_fuse(c, p["fusion"], p["alpha"], p["rrf_k"], k) for c in self.candidates(queries, k)]

    def _save_parts(self, out: str) -> None:
        self.bm25._save_parts(out)
        self.dense._save_parts(out)

    @classmethod
    def _load_parts(cls, path: str, chunks: list[Document], params: dict[str, Any]) -> HybridIndex:
        idx = cls(**params)
        idx.chunks = chunks
        idx.bm25 = BM25Index._load_parts(path, chunks, {**(params.get("bm25") or {})})
        idx.dense = DenseIndex._load_parts(
            path, chunks, {"model": params["model"], **(params.get("dense") or {})}
        )
        idx.bm25.chunks = idx.dense.chunks = idx.chunks
        return idx


@dataclass
class FusionTuning:
    """What :func:`tune_fusion` found: the best settings and the metric of every one tried."""

    fusion: str
    alpha: float
    rrf_k: int
    score: float
    queries: int
    tried: dict[str, float] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        return {"fusion": self.fusion, "alpha": self.alpha, "rrf_k": self.rrf_k}


def tune_fusion(
    index: HybridIndex,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    *,
    alphas: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    rrf_ks: Sequence[int] = (10, 60),
    apply: bool = True,
) -> FusionTuning:
    """Pick the fusion and ``alpha`` (or ``rrf_k``) maximising nDCG@10 on labelled ``queries``
    (id -> text, with ``qrels`` id -> {chunk id: grade}); ``apply`` sets them on ``index``. Ties go to
    the setting closest to the default (``weighted``, ``alpha`` 0.9)."""
    qids = [q for q in qrels if q in queries]
    if not qids:
        raise ConfigError("tune_fusion needs queries that have qrels")
    cands = dict(zip(qids, index.candidates([queries[q] for q in qids], 10), strict=True))
    out = _tune(cands, qrels, [c.id for c in index.chunks], alphas, rrf_ks)
    if apply:
        index.params.update(out.params())
    return out


def _tune(
    cands: dict[str, _Candidates],
    qrels: dict[str, dict[str, int]],
    ids: list[str],
    alphas: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    rrf_ks: Sequence[int] = (10, 60),
) -> FusionTuning:
    from datamill.incontext.evaluate import score_run

    def ndcg(fusion: str, alpha: float, rrf_k: int) -> float:
        run = {q: [ids[i] for i, _ in _fuse(c, fusion, alpha, rrf_k, 10)] for q, c in cands.items()}
        return score_run(run, {q: qrels[q] for q in cands}, ks=(10,))[0].get("ndcg@10", 0.0)

    tried: dict[tuple[str, float, int], float] = {}
    for a in alphas:
        tried[("weighted", float(a), 60)] = ndcg("weighted", float(a), 60)
    for rk in rrf_ks:
        tried[("rrf", DEFAULT_ALPHA, int(rk))] = ndcg("rrf", DEFAULT_ALPHA, int(rk))
    best = max(tried, key=lambda t: (round(tried[t], 6), t[0] == "weighted", -abs(t[1] - DEFAULT_ALPHA)))
    return FusionTuning(
        fusion=best[0],
        alpha=best[1],
        rrf_k=best[2],
        score=tried[best],
        queries=len(cands),
        tried={(f"{f} alpha={a}" if f == "weighted" else f"rrf k={k}"): s for (f, a, k), s in tried.items()},
    )


def cross_fit_fusion(
    index: HybridIndex,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    *,
    folds: int = 2,
    k: int = 100,
) -> tuple[dict[str, list[str]], list[FusionTuning]]:
    """Rank every labelled query with a fusion tuned on the other queries only: the queries are split
    into ``folds`` parts (by a hash of their id, so the split is stable), each part is ranked (top
    ``k`` chunk ids) with the fusion :func:`tune_fusion` picks on the rest. Scoring that run estimates
    what tuning on your own queries gains, without tuning on the queries scored. Returns the run and
    each part's tuning; ``index`` is left unchanged."""
    import zlib

    qids = [q for q in qrels if q in queries]
    if folds < 2 or len(qids) < folds:
        raise ConfigError(f"folds must be >= 2 and at most the {len(qids)} labelled queries", params="folds")
    cands = dict(zip(qids, index.candidates([queries[q] for q in qids], k), strict=True))
    part = {q: zlib.crc32(q.encode()) % folds for q in qids}
    ids = [c.id for c in index.chunks]
    run: dict[str, list[str]] = {}
    tunings = []
    for f in range(folds):
        rest = {q: c for q, c in cands.items() if part[q] != f}
        if rest:
            t = _tune(rest, qrels, ids)
        else:  # every query fell in this part: nothing to tune on, keep the index's fusion
            p = index.params
            t = FusionTuning(p["fusion"], p["alpha"], p["rrf_k"], score=float("nan"), queries=0)
        tunings.append(t)
        for q in (q for q in qids if part[q] == f):
            run[q] = [ids[i] for i, _ in _fuse(cands[q], t.fusion, t.alpha, t.rrf_k, k)]
    return run, tunings

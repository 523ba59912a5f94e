"""Hybrid retrieval: BM25 and dense candidates fused into one ranking, the fusion's weight estimated per
corpus without labels, and tuned on a user's own labelled queries when there are some.

Each retriever proposes its top 100 chunks (``k`` if more); every candidate gets its exact dense cosine, its
BM25 score where BM25 retrieved it, and the two are combined. ``fusion="weighted"`` (default) is a
convex combination of min-max normalised scores, ``alpha`` on the dense side (Bruch et al. 2023
found it beats RRF once tuned); ``fusion="rrf"`` is reciprocal rank fusion.

How much to trust each side depends on the corpus: with all-MiniLM-L6-v2, dense retrieval is far ahead on
MS MARCO or DBpedia (alpha 0.8-1 is best), behind on SciFact (0.5) and nearly useless on Arabic text,
where BM25 should carry the ranking (0). No fixed alpha serves them all, so the default ``alpha="auto"`` estimates it
per corpus from pseudo-queries (:func:`estimate_fusion`): a sentence of a sampled chunk is the query, the
rest of that chunk (re-embedded, re-indexed) is the one relevant answer, and the alpha with the best
nDCG@10 on those wins. It needs no labels and no test queries; on the public sets of
benchmarks/incontext_hybrid.py it picked an alpha within 0.006 nDCG@10 of the best one
for each (docs/incontext.md). It runs when the index is saved or first searched (up to 1,000 short
texts embedded: seconds) and is saved with the index; ``FALLBACK_ALPHA`` is used when the chunks give too few pseudo-queries.
With labelled queries, :func:`tune_fusion` picks the fusion and ``alpha`` that maximise nDCG@10 on
them, and :func:`cross_fit_fusion` scores that tuning on queries it was not tuned on.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from datamill.errors import ConfigError
from datamill.incontext._base import Index
from datamill.incontext.bm25 import BM25Index
from datamill.incontext.dense import DenseIndex
from datamill.records import Document

__all__ = ["FusionTuning", "HybridIndex", "cross_fit_fusion", "estimate_fusion", "tune_fusion"]

FUSIONS = ("weighted", "rrf")
AUTO: Literal["auto"] = "auto"  # alpha estimated per corpus from pseudo-queries (estimate_fusion)
FALLBACK_ALPHA = 0.9  # when the corpus gives fewer than MIN_PSEUDO pseudo-queries (see docs/incontext.md)
PSEUDO_QUERIES = 500  # pseudo-queries estimate_fusion makes (200 left 0.7-1.0 to noise on 5k docs)
MIN_PSEUDO = 20
PSEUDO_DOCS = 5000  # chunks searched by the pseudo-queries (a sample of larger corpora)
REESTIMATE = 0.2  # re-estimate "auto" when the chunk count has changed by this fraction since
ALPHAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
CANDIDATES = 100  # each retriever proposes its top 100 (or k, if more) for fusion
_DENSE_KEYS = ("backend", "quantize", "max_seq_length", "ann_threshold", "connectivity", "ef_search")


@dataclass
class _Candidates:
    """One query's fused candidates: positions, normalised dense and BM25 scores, ranks, raw scores (BM25
    0 where BM25 did not retrieve the candidate)."""

    pos: np.ndarray
    dense: np.ndarray
    bm25: np.ndarray
    dense_rank: np.ndarray
    bm25_rank: np.ndarray
    dense_raw: np.ndarray
    bm25_raw: np.ndarray


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
        alpha: float | Literal["auto"] = AUTO,
        rrf_k: int = 60,
        model: str = "all-MiniLM-L6-v2",
        bm25: dict[str, Any] | None = None,
        dense: dict[str, Any] | None = None,
    ) -> None:
        if fusion not in FUSIONS:
            raise ConfigError(f"fusion must be 'rrf' or 'weighted', got {fusion!r}", params="fusion")
        if alpha != AUTO and not (isinstance(alpha, int | float) and 0 <= alpha <= 1):
            raise ConfigError(f"alpha must be in [0, 1] or 'auto', got {alpha!r}", params="alpha")
        extra = set(dense or {}) - set(_DENSE_KEYS)
        if extra:
            raise ConfigError(f"dense= takes {', '.join(_DENSE_KEYS)}; got {', '.join(sorted(extra))}")
        super().__init__(
            chunks, fusion=fusion, alpha=alpha, rrf_k=rrf_k, model=model, bm25=bm25 or {}, dense=dense or {}
        )
        self.bm25 = BM25Index(self.chunks, **(bm25 or {}))
        self.dense = DenseIndex(self.chunks, model=model, **(dense or {}))
        self.bm25.chunks = self.dense.chunks = self.chunks  # one list, grown once by add()
        self.fusion_estimate: FusionTuning | None = None  # what alpha="auto" found, and on how many chunks

    def fusion_params(self) -> dict[str, Any]:
        """The fusion searches use: ``alpha="auto"`` resolved (estimated now if not yet, or if the chunk
        count changed by ``REESTIMATE`` since)."""
        p = self.params
        alpha = p["alpha"]
        if alpha == AUTO and p["fusion"] == "rrf":
            alpha = FALLBACK_ALPHA  # RRF has no weight: nothing to estimate
        elif alpha == AUTO:
            est = self.fusion_estimate
            if est is None or abs(len(self.chunks) - est.documents) > REESTIMATE * max(est.documents, 1):
                est = self.fusion_estimate = estimate_fusion(self, apply=False)
            alpha = est.alpha
        return {"fusion": p["fusion"], "alpha": float(alpha), "rrf_k": p["rrf_k"]}

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
                _Candidates(
                    pos, _minmax(d, np.ones(len(pos), bool)), _minmax(b, b_rank > 0), d_rank, b_rank, d, b
                )
            )
        return out

    def _scores_batch(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        p = self.fusion_params() if self.chunks else {**self.params, "alpha": FALLBACK_ALPHA}
        return [_fuse(c, p["fusion"], p["alpha"], p["rrf_k"], k) for c in self.candidates(queries, k)]

    def _save_parts(self, out: str) -> None:
        self.bm25._save_parts(out)
        self.dense._save_parts(out)
        if self.chunks and self.params["alpha"] == AUTO and self.params["fusion"] == "weighted":
            self.fusion_params()  # estimated now, so that a loaded index does not estimate it again
        if self.fusion_estimate is not None:
            with open(os.path.join(out, "fusion_estimate.json"), "w") as fh:
                json.dump(self.fusion_estimate.__dict__, fh)

    @classmethod
    def _load_parts(cls, path: str, chunks: list[Document], params: dict[str, Any]) -> HybridIndex:
        idx = cls(**params)
        idx.chunks = chunks
        idx.bm25 = BM25Index._load_parts(path, chunks, {**(params.get("bm25") or {})})
        idx.dense = DenseIndex._load_parts(
            path, chunks, {"model": params["model"], **(params.get("dense") or {})}
        )
        idx.bm25.chunks = idx.dense.chunks = idx.chunks
        est = os.path.join(path, "fusion_estimate.json")
        if os.path.exists(est):
            with open(est) as fh:
                idx.fusion_estimate = FusionTuning(**json.load(fh))
        return idx


@dataclass
class FusionTuning:
    """What :func:`tune_fusion` (labelled queries) or :func:`estimate_fusion` (pseudo-queries) found: the
    best settings, the metric of every one tried, on how many queries and chunks."""

    fusion: str
    alpha: float
    rrf_k: int
    score: float
    queries: int
    tried: dict[str, float] = field(default_factory=dict)
    documents: int = 0
    source: str = "labelled queries"

    def params(self) -> dict[str, Any]:
        return {"fusion": self.fusion, "alpha": self.alpha, "rrf_k": self.rrf_k}


def tune_fusion(
    index: HybridIndex,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    *,
    alphas: Sequence[float] = ALPHAS,
    rrf_ks: Sequence[int] = (10, 60),
    apply: bool = True,
) -> FusionTuning:
    """Pick the fusion and ``alpha`` (or ``rrf_k``) maximising nDCG@10 on labelled ``queries``
    (id -> text, with ``qrels`` id -> {chunk id: grade}); ``apply`` sets them on ``index``. Ties go to
    the setting closest to the fallback (``weighted``, ``alpha`` ``FALLBACK_ALPHA``)."""
    qids = [q for q in qrels if q in queries]
    if not qids:
        raise ConfigError("tune_fusion needs queries that have qrels")
    cands = dict(zip(qids, index.candidates([queries[q] for q in qids], 10), strict=True))
    out = _tune(cands, qrels, [c.id for c in index.chunks], alphas, rrf_ks)
    out.documents = len(index.chunks)
    if apply:
        index.params.update(out.params())
    return out


def _tune(
    cands: dict[str, _Candidates],
    qrels: dict[str, dict[str, int]],
    ids: list[str],
    alphas: Sequence[float] = ALPHAS,
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
        tried[("rrf", FALLBACK_ALPHA, int(rk))] = ndcg("rrf", FALLBACK_ALPHA, int(rk))
    best = max(tried, key=lambda t: (round(tried[t], 6), t[0] == "weighted", -abs(t[1] - FALLBACK_ALPHA)))
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
            p = index.fusion_params()
            t = FusionTuning(p["fusion"], p["alpha"], p["rrf_k"], score=float("nan"), queries=0)
        tunings.append(t)
        for q in (q for q in qids if part[q] == f):
            run[q] = [ids[i] for i, _ in _fuse(cands[q], t.fusion, t.alpha, t.rrf_k, k)]
    return run, tunings


def _sentences(text: str) -> list[str]:
    """Sentences of ``text`` long enough to be a query (20+ characters)."""
    return [s for s in (x.strip() for x in re.split(r"(?<=[.!?。！？؟])\s+", text)) if len(s) >= 20]


def pseudo_queries(
    chunks: Sequence[Document], n: int = PSEUDO_QUERIES, *, seed: int = 0
) -> list[tuple[int, str, str]]:
    """Up to ``n`` (chunk position, query, rest of the chunk): chunks sampled among those with two or more
    sentences of 20+ characters, one of their sentences taken out as the query."""
    rng = random.Random(seed)
    order = list(range(len(chunks)))
    rng.shuffle(order)
    out = []
    for i in order:
        text = chunks[i].text
        sents = _sentences(text)
        if len(sents) < 2:
            continue
        q = rng.choice(sents)
        rest = text.replace(q, " ", 1).strip()
        if len(rest) >= 20:
            out.append((i, q, rest))
            if len(out) == n:
                break
    return out


def estimate_fusion(
    index: HybridIndex,
    *,
    queries: int = PSEUDO_QUERIES,
    alphas: Sequence[float] = ALPHAS,
    seed: int = 0,
    apply: bool = True,
) -> FusionTuning:
    """The weighted fusion's ``alpha`` for this corpus, without labels: ``queries`` pseudo-queries (a
    sentence of a sampled chunk; its one relevant chunk is the rest of that chunk, embedded and indexed
    in place of the whole) are searched over up to ``PSEUDO_DOCS`` chunks (those chunks plus a random
    sample of the others, BM25 rebuilt on them, the index's own dense vectors reused), and the alpha with
    the best nDCG@10 wins (tied alphas: the middle one). With fewer than ``MIN_PSEUDO``
    pseudo-queries the result is ``FALLBACK_ALPHA`` with ``queries=0``. ``apply`` sets
    ``index.fusion_estimate`` (what ``alpha="auto"`` uses)."""
    n = len(index.chunks)
    pq = pseudo_queries(index.chunks, queries, seed=seed)
    if len(pq) < MIN_PSEUDO:
        out = FusionTuning("weighted", FALLBACK_ALPHA, 60, float("nan"), 0, documents=n, source="fallback")
    else:
        targets = {i for i, _, _ in pq}
        rest = [i for i in range(n) if i not in targets]
        rng = random.Random(seed + 1)
        keep = sorted(
            targets
            | set(
                rest
                if len(rest) <= PSEUDO_DOCS - len(targets)
                else rng.sample(rest, PSEUDO_DOCS - len(targets))
            )
        )
        where = {p: j for j, p in enumerate(keep)}
        sub = [index.chunks[p] for p in keep]
        for i, _, text in pq:
            c = sub[where[i]]
            sub[where[i]] = Document(id=c.id, text=text, metadata=c.metadata)
        bm = BM25Index(sub, **index.bm25.params)
        de = DenseIndex(**{**index.dense.params, "ann_threshold": max(len(sub), 1) + 1})
        de.cache = index.dense.cache
        vecs = np.asarray(index.dense.vectors)[keep].copy()
        changed = [where[i] for i, _, _ in pq]
        vecs[changed] = de._embed([sub[j] for j in changed])
        de.chunks, de.vectors, de.keys = sub, vecs, np.arange(len(sub), dtype=np.uint64)
        probe = HybridIndex.of(bm, de, fusion="weighted", alpha=FALLBACK_ALPHA, rrf_k=index.params["rrf_k"])
        qids = [f"pseudo{j}" for j in range(len(pq))]
        cands = dict(zip(qids, probe.candidates([q for _, q, _ in pq], 10), strict=True))
        qrels = {q: {str(where[i]): 1} for q, (i, _, _) in zip(qids, pq, strict=True)}
        out = _tune(cands, qrels, [str(j) for j in range(len(sub))], alphas, rrf_ks=())
        # several alphas tie (a plateau, e.g. every alpha that lets BM25 decide): take its middle
        best = round(out.score, 6)
        ties = sorted(float(a) for a in alphas if round(out.tried[f"weighted alpha={float(a)}"], 6) == best)
        mid = ties[(len(ties) - 1) // 2 : len(ties) // 2 + 1]
        out.alpha = min(mid, key=lambda a: abs(a - FALLBACK_ALPHA))
        out.documents, out.source = n, "pseudo-queries"
    if apply:
        index.fusion_estimate = out
    return out

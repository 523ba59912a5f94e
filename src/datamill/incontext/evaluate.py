"""Retrieval evaluation on BEIR-format data: recall@k, nDCG@10, MRR@10, MAP@100, per query.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``,
``text``), either possibly compressed (``corpus.jsonl.gz``), and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score``, with a header). Metrics
follow trec_eval / pytrec_eval definitions (graded gains for nDCG; relevance > 0 counts as relevant).
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from datamill.errors import InputError
from datamill.io import iter_jsonl
from datamill.records import Document, Provenance

__all__ = ["BeirData", "EvalResult", "evaluate_retrieval", "load_beir", "score_run"]


@dataclass
class BeirData:
    corpus: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(folder: str | os.PathLike[str], *, split: str = "test") -> BeirData:
    """Read a BEIR-format folder; errors name the file and line."""
    root = os.fspath(folder)
    corpus = []
    cpath = _jsonl(root, "corpus")
    for n, _, row in iter_jsonl(cpath):
        if not isinstance(row, dict) or "_id" not in row or not isinstance(row.get("text"), str):
            raise InputError("corpus rows need '_id' and a string 'text'", path=cpath, line=n)
        meta = {"title": row["title"]} if row.get("title") else {}
        corpus.append(
            Document(
                id=str(row["_id"]),
                text=row["text"],
                metadata=meta,
                provenance=Provenance(source=cpath, line=n),
            )
        )
    queries = {}
    qjpath = _jsonl(root, "queries")
    for n, _, row in iter_jsonl(qjpath):
        if not isinstance(row, dict) or "_id" not in row or not isinstance(row.get("text"), str):
            raise InputError("query rows need '_id' and a string 'text'", path=qjpath, line=n)
        queries[str(row["_id"])] = row["text"]
    qpath = os.path.join(root, "qrels", f"{split}.tsv")
    if not os.path.exists(qpath):
        raise InputError(f"no qrels for split {split!r}", path=qpath)
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(qpath, newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if n == 1 and row and row[0] == "query-id":
                continue
            if len(row) < 3:
                raise InputError("qrels rows need query-id, corpus-id, score", path=qpath, line=n)
            try:
                qrels[row[0]][row[1]] = int(row[2])
            except ValueError:
                raise InputError(f"score {row[2]!r} is not an integer", path=qpath, line=n) from None
    return BeirData(corpus, queries, dict(qrels))


def _jsonl(root: str, name: str) -> str:
    """``name.jsonl`` under ``root``, or its compressed copy when only that exists."""
    plain = os.path.join(root, f"{name}.jsonl")
    for ext in ("", ".gz", ".zst"):
        if os.path.exists(plain + ext):
            return plain + ext
    raise InputError(f"no {name}.jsonl (or compressed copy) in this BEIR folder", path=plain)


def _ndcg(ranked: Sequence[str], rel: dict[str, int], k: int) -> float:
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in rel.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def score_run(
    run: dict[str, list[str]], qrels: dict[str, dict[str, int]], *, ks: Sequence[int] = (1, 5, 10, 100)
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean metrics and per-query metrics of ranked results ``run`` (query id -> doc ids)."""
    per: dict[str, dict[str, float]] = {}
    for qid, rel in qrels.items():
        ranked = run.get(qid, [])
        relevant = {d for d, g in rel.items() if g > 0}
        if not relevant:
            continue
        m: dict[str, float] = {}
        for k in ks:
            m[f"recall@{k}"] = len(relevant & set(ranked[:k])) / len(relevant)
        m["ndcg@10"] = _ndcg(ranked, rel, 10)
        m["mrr@10"] = next((1.0 / (i + 1) for i, d in enumerate(ranked[:10]) if d in relevant), 0.0)
        hits, ap = 0, 0.0
        for i, d in enumerate(ranked[:100]):
            if d in relevant:
                hits += 1
                ap += hits / (i + 1)
        m["map@100"] = ap / len(relevant)
        per[qid] = m
    names = list(next(iter(per.values())).keys()) if per else []
    mean = {n: sum(p[n] for p in per.values()) / len(per) for n in names}
    return mean, per


@dataclass
class EvalResult:
    """Metrics per index kind (``table``), per query, timings, the hybrid's fusion (``fusion``: its
    settings, and what tuning found) and the HNSW recall against exact search (``ann``, when the dense
    index searched an HNSW graph). A ``hybrid-tuned`` row is the hybrid with its fusion tuned on the dev
    queries, or without them, cross-fitted on the test queries (each ranked with a fusion tuned on the
    others, see :func:`~datamill.incontext.hybrid.cross_fit_fusion`)."""

    table: dict[str, dict[str, float]]
    per_query: dict[str, dict[str, dict[str, float]]]
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    queries: int = 0
    documents: int = 0
    fusion: dict[str, Any] = field(default_factory=dict)
    ann: dict[str, float] = field(default_factory=dict)

    def best(self, metric: str = "ndcg@10") -> str:
        return max(self.table, key=lambda kind: self.table[kind][metric])

    def recommend(self, metric: str = "ndcg@10", margin: float = 0.005) -> str:
        """The row to use: the best on ``metric``, unless a simpler one (bm25, dense, the hybrid with
        its default fusion, then ``hybrid-tuned``) is within ``margin`` of it."""
        top = self.table[self.best(metric)][metric]
        for kind in ("bm25", "dense", "hybrid", "hybrid-tuned"):
            if kind in self.table and self.table[kind][metric] >= top - margin:
                return kind
        return self.best(metric)

    def summary(self) -> list[str]:
        """What ``incontext eval`` prints under its table: the fusion, the HNSW recall, what to use."""
        lines = []
        f = self.fusion
        if f:
            lines.append(f"hybrid fusion: {_fusion_text(f)} ({_fusion_source(f)})")
        if "tuned_on" in f:
            t = f["tuned"]
            lines.append(
                f"hybrid-tuned: {_fusion_text(t)}, tuned on {f['dev_queries']} {f['tuned_on']} queries"
                f" (nDCG@10 {f['dev_ndcg@10']:.4f} on them)"
            )
        if "cross_fitted" in f:
            c = f["cross_fitted"]
            lines.append(
                f"hybrid-tuned: each of {c['folds']} parts of the test queries ranked with the fusion tuned on"
                f" the others ({'; '.join(c['per_fold'])}); tuned on all {self.queries}: {_fusion_text(c['all'])}"
            )
        if self.ann:
            a = self.ann
            lines.append(
                f"dense HNSW: recall@10 {a['recall@10']:.4f} of exact search over {int(a['vectors']):,} vectors;"
                f" {a['hnsw_ms']:.2f} ms/query vs {a['exact_ms']:.2f} ms exact"
            )
        if len(self.table) > 1:
            rec = self.recommend()
            others = ", ".join(f"{k} {v['ndcg@10']:.4f}" for k, v in self.table.items() if k != rec)
            tuned = f.get("tuned") or f.get("cross_fitted", {}).get("all")
            use = f"hybrid with {_fusion_text(tuned)}" if rec == "hybrid-tuned" and tuned else rec
            lines.append(f"use {use} (nDCG@10 {self.table[rec]['ndcg@10']:.4f}; {others})")
        return lines

    def per_query_rows(self) -> Iterator[dict[str, Any]]:
        """One row per index kind and query: ``kind``, ``query_id`` and the query's metrics."""
        for kind, rows in self.per_query.items():
            for q, m in rows.items():
                yield {"kind": kind, "query_id": q, **m}

    def to_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "documents": self.documents,
            "table": self.table,
            "seconds": self.seconds,
            "fusion": self.fusion,
            "ann": self.ann,
            "recommend": self.recommend() if self.table else None,
            "per_query": self.per_query,
        }


def _fusion_text(f: dict[str, Any]) -> str:
    return f"rrf k={f['rrf_k']}" if f["fusion"] == "rrf" else f"weighted, alpha={f['alpha']:g} on dense"


def _fusion_source(f: dict[str, Any]) -> str:
    est = f.get("estimate")
    if f["fusion"] == "rrf" or not est:
        return "as given"
    if est["source"] == "fallback":
        return f"default: the chunks gave too few pseudo-queries to estimate it ({est['queries']})"
    return (
        f"estimated on {est['queries']} pseudo-queries made from the corpus, nDCG@10 {est['score']:.4f} on"
        " them; hybrid-tuned tunes it on labelled queries"
    )


def evaluate_retrieval(
    folder: str | os.PathLike[str],
    *,
    kinds: Sequence[str] = ("bm25", "dense", "hybrid"),
    split: str = "test",
    dev_split: str | None = "dev",
    k: int = 100,
    index_params: dict[str, dict[str, Any]] | None = None,
    folds: int = 2,
    progress: bool = False,
) -> EvalResult:
    """Index the corpus with each kind, run every query of ``split``, score against its qrels.

    The ``hybrid`` row uses the default (or given) fusion: ``alpha="auto"``, estimated from pseudo-queries
    made from the corpus (:func:`~datamill.incontext.hybrid.estimate_fusion`). A ``hybrid-tuned`` row
    is added beside it: when the folder has qrels for ``dev_split`` (``qrels/dev.tsv`` by default), the
    fusion tuned on those queries (:func:`~datamill.incontext.hybrid.tune_fusion`; the ``split``
    queries are never used for tuning); without them (and ``folds`` >= 2), the ``split`` queries
    cross-fitted in ``folds`` parts, each ranked with the fusion tuned on the other parts
    (:func:`~datamill.incontext.hybrid.cross_fit_fusion`)."""
    from datamill.incontext.bm25 import BM25Index
    from datamill.incontext.dense import DenseIndex
    from datamill.incontext.hybrid import HybridIndex, cross_fit_fusion, tune_fusion
    from datamill.incontext.index import Index, build_index

    data = load_beir(folder, split=split)
    dev = _dev_qrels(folder, dev_split, split) if "hybrid" in kinds else None
    qids = [q for q in data.qrels if q in data.queries]
    qrels = {q: data.qrels[q] for q in qids}  # judged queries without a text are not run nor scored
    table, per_query, seconds = {}, {}, {}
    fusion: dict[str, Any] = {}
    ann: dict[str, float] = {}
    built: dict[str, Index] = {}
    for kind in kinds:
        t0 = time.perf_counter()
        params = dict((index_params or {}).get(kind, {}))
        bm25, dense = built.get("bm25"), built.get("dense")
        if kind == "hybrid" and isinstance(bm25, BM25Index) and isinstance(dense, DenseIndex):
            extra = {p: params[p] for p in ("fusion", "alpha", "rrf_k") if p in params}
            idx: Index = HybridIndex.of(bm25, dense, **extra)  # reuse what was just built
        else:
            idx = build_index(data.corpus, kind=kind, **params)
        if isinstance(idx, HybridIndex):
            fusion = idx.fusion_params()  # alpha="auto" is estimated here, as on a first search
            if idx.params["alpha"] == "auto" and idx.fusion_estimate is not None:
                fusion["estimate"] = {
                    k: getattr(idx.fusion_estimate, k) for k in ("source", "queries", "score", "documents")
                }
        t1 = time.perf_counter()
        results = idx.search_batch([data.queries[q] for q in qids], k)
        run = {q: [h.chunk.id for h in hits] for q, hits in zip(qids, results, strict=True)}
        t2 = time.perf_counter()
        table[kind], per_query[kind] = score_run(run, qrels)
        seconds[kind] = {"index": round(t1 - t0, 3), "queries": round(t2 - t1, 3)}
        built[kind] = idx
        if kind == "dense" and isinstance(idx, DenseIndex) and idx.uses_ann:
            ann = idx.ann_recall([data.queries[q] for q in qids], 10)
        if isinstance(idx, HybridIndex) and dev:
            t1 = time.perf_counter()
            tuned = tune_fusion(idx, data.queries, dev, apply=False)
            tidx = HybridIndex.of(idx.bm25, idx.dense, **tuned.params())
            results = tidx.search_batch([data.queries[q] for q in qids], k)
            run = {q: [h.chunk.id for h in hits] for q, hits in zip(qids, results, strict=True)}
            table["hybrid-tuned"], per_query["hybrid-tuned"] = score_run(run, qrels)
            seconds["hybrid-tuned"] = {"index": 0.0, "queries": round(time.perf_counter() - t1, 3)}
            fusion.update(
                tuned=tuned.params(),
                tuned_on=dev_split,
                dev_queries=tuned.queries,
                **{"dev_ndcg@10": tuned.score},
            )
        elif isinstance(idx, HybridIndex) and folds >= 2 and len(qids) >= folds:
            t1 = time.perf_counter()
            cv_run, tunings = cross_fit_fusion(idx, data.queries, qrels, folds=folds, k=k)
            table["hybrid-tuned"], per_query["hybrid-tuned"] = score_run(cv_run, qrels)
            seconds["hybrid-tuned"] = {"index": 0.0, "queries": round(time.perf_counter() - t1, 3)}
            fusion["cross_fitted"] = {
                "folds": folds,
                "per_fold": [f"{_fusion_text(t.params())} on {t.queries}" for t in tunings],
                "all": tune_fusion(idx, data.queries, qrels, apply=False).params(),
            }
    return EvalResult(
        table, per_query, seconds, queries=len(qids), documents=len(data.corpus), fusion=fusion, ann=ann
    )


def _dev_qrels(
    folder: str | os.PathLike[str], dev_split: str | None, split: str
) -> dict[str, dict[str, int]]:
    if not dev_split or dev_split == split:
        return {}
    if not os.path.exists(os.path.join(os.fspath(folder), "qrels", f"{dev_split}.tsv")):
        return {}
    return load_beir(folder, split=dev_split).qrels

"""Retrieval evaluation on BEIR-format data: recall@k, nDCG@10, MRR@10, MAP@100, per query.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``,
``text``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score``, with a header). Metrics
follow trec_eval / pytrec_eval definitions (graded gains for nDCG; relevance > 0 counts as relevant).
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections import defaultdict
from collections.abc import Sequence
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
    for n, _, row in iter_jsonl(os.path.join(root, "corpus.jsonl")):
        if not isinstance(row, dict) or "_id" not in row or not isinstance(row.get("text"), str):
            raise InputError(
                "corpus rows need '_id' and a string 'text'", path=os.path.join(root, "corpus.jsonl"), line=n
            )
        meta = {"title": row["title"]} if row.get("title") else {}
        corpus.append(
            Document(
                id=str(row["_id"]),
                text=row["text"],
                metadata=meta,
                provenance=Provenance(source=os.path.join(root, "corpus.jsonl"), line=n),
            )
        )
    queries = {}
    for n, _, row in iter_jsonl(os.path.join(root, "queries.jsonl")):
        if not isinstance(row, dict) or "_id" not in row or not isinstance(row.get("text"), str):
            raise InputError(
                "query rows need '_id' and a string 'text'", path=os.path.join(root, "queries.jsonl"), line=n
            )
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
    """Metrics per index kind (``table``), per query, and timings."""

    table: dict[str, dict[str, float]]
    per_query: dict[str, dict[str, dict[str, float]]]
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    queries: int = 0
    documents: int = 0

    def best(self, metric: str = "ndcg@10") -> str:
        return max(self.table, key=lambda kind: self.table[kind][metric])

    def to_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "documents": self.documents,
            "table": self.table,
            "seconds": self.seconds,
            "per_query": self.per_query,
        }


def evaluate_retrieval(
    folder: str | os.PathLike[str],
    *,
    kinds: Sequence[str] = ("bm25", "dense", "hybrid"),
    split: str = "test",
    k: int = 100,
    index_params: dict[str, dict[str, Any]] | None = None,
    progress: bool = False,
) -> EvalResult:
    """Index the corpus with each kind, run every query, score against the qrels."""
    from datamill.incontext.index import BM25Index, DenseIndex, Index, build_index

    data = load_beir(folder, split=split)
    qids = [q for q in data.qrels if q in data.queries]
    table, per_query, seconds = {}, {}, {}
    bm25: BM25Index | None = None
    dense: DenseIndex | None = None
    idx: Index
    for kind in kinds:
        t0 = time.perf_counter()
        params = (index_params or {}).get(kind, {})
        if kind == "hybrid" and bm25 is not None and dense is not None and not params.get("model"):
            from datamill.incontext.index import HybridIndex

            idx = HybridIndex(**params)
            idx.chunks, idx.bm25, idx.dense = bm25.chunks, bm25, dense  # reuse what was just built
            dense.chunks = bm25.chunks
        else:
            idx = build_index(data.corpus, kind=kind, **params)
        t1 = time.perf_counter()
        results = idx.search_batch([data.queries[q] for q in qids], k)
        run = {q: [h.chunk.id for h in hits] for q, hits in zip(qids, results, strict=True)}
        t2 = time.perf_counter()
        table[kind], per_query[kind] = score_run(run, data.qrels)
        seconds[kind] = {"index": round(t1 - t0, 3), "queries": round(t2 - t1, 3)}
        if kind == "bm25" and isinstance(idx, BM25Index):
            bm25 = idx
        elif kind == "dense" and isinstance(idx, DenseIndex):
            dense = idx
    return EvalResult(table, per_query, seconds, queries=len(qids), documents=len(data.corpus))

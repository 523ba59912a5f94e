"""BM25 indexing/query throughput: datamill vs bm25s vs rank_bm25; dense indexing and latency; load time.

    python benchmarks/incontext_bm25.py [--docs 100000] [--queries 1000] [--dense-docs 2000]

The corpus is built from the Self-Instruct seed tasks' words (Zipf-like real vocabulary) in
documents of 20-120 words. All three BM25 tools get the same texts and queries, with English stop
words and Snowball stemming where the tool supports it (rank_bm25 gets the same pre-tokenised
input). rank_bm25 scores every document per query, so it runs on a sample of the queries.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = Path(__file__).resolve().parents[1] / "tests" / "data" / "finetune" / "self_instruct_seed_tasks.jsonl"


def corpus(n: int, n_queries: int) -> tuple[list[str], list[str]]:
    words: list[str] = []
    if SEED.exists():
        for line in SEED.read_text().splitlines():
            d = json.loads(line)
            words += (d["instruction"] + " " + d["instances"][0]["output"]).lower().split()
    words = words or ["alpha", "beta", "gamma", "delta"]
    rng = random.Random(0)
    docs = [" ".join(rng.choices(words, k=rng.randint(20, 120))) for _ in range(n)]
    queries = [" ".join(rng.choices(words, k=rng.randint(3, 8))) for _ in range(n_queries)]
    return docs, queries


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dense-docs", type=int, default=2000)
    args = ap.parse_args()
    docs, queries = corpus(args.docs, args.queries)
    print(f"{len(docs):,} documents, {len(queries):,} queries")

    import bm25s
    import Stemmer

    from datamill.incontext import build_index, load_index
    from datamill.records import Document

    stem = Stemmer.Stemmer("english")
    rows = []

    t0 = time.perf_counter()
    ref = bm25s.BM25()
    ref.index(bm25s.tokenize(docs, stopwords="en", stemmer=stem, show_progress=False), show_progress=False)
    t1 = time.perf_counter()
    ref.retrieve(
        bm25s.tokenize(queries, stopwords="en", stemmer=stem, show_progress=False), k=10, show_progress=False
    )
    t2 = time.perf_counter()
    rows.append(("bm25s (in memory)", t1 - t0, t2 - t1, len(queries)))
    t_save = time.perf_counter()
    ref.save(tempfile.mkdtemp() + "/bm25s", corpus=[{"id": str(i), "text": t} for i, t in enumerate(docs)])
    rows.append(("bm25s (+ save with corpus)", t1 - t0 + time.perf_counter() - t_save, t2 - t1, len(queries)))

    recs = [Document(id=str(i), text=t) for i, t in enumerate(docs)]
    out = tempfile.mkdtemp()
    t0 = time.perf_counter()
    build_index(recs, out + "/ix", kind="bm25")
    t1 = time.perf_counter()
    t_load = time.perf_counter()
    idx = load_index(out + "/ix")
    load_s = time.perf_counter() - t_load
    t1b = time.perf_counter()
    idx.search_batch(queries, 10)
    t2 = time.perf_counter()
    rows.append(("datamill (bm25s inside, + save)", t1 - t0, t2 - t1b, len(queries)))

    try:
        from rank_bm25 import BM25Okapi

        tok = bm25s.tokenize(docs, stopwords="en", stemmer=stem, show_progress=False, return_ids=False)
        qtok = bm25s.tokenize(queries, stopwords="en", stemmer=stem, show_progress=False, return_ids=False)
        sample = qtok[: max(10, len(qtok) // 50)]
        t0 = time.perf_counter()
        rb = BM25Okapi(tok)
        t1 = time.perf_counter()
        for q in sample:
            np.argsort(-rb.get_scores(q))[:10]
        t2 = time.perf_counter()
        rows.append(("rank_bm25", t1 - t0, t2 - t1, len(sample)))
    except ImportError:
        print("rank_bm25 not installed: pip install rank_bm25")

    print(f"{'tool':34s} {'index docs/s':>13s} {'queries/s':>11s}")
    for name, ti, tq, nq in rows:
        print(f"{name:34s} {len(docs) / ti:13,.0f} {nq / tq:11,.1f}")
    dm = rows[2]
    for name, ti, tq, nq in (*rows[:2], *rows[3:]):
        print(
            f"datamill vs {name}: indexing x{ti / dm[1]:.2f}, queries x{(nq / tq) and (dm[3] / dm[2]) / (nq / tq):.2f}"
        )
    print(f"BM25 index load ({len(docs):,} chunks, including chunk records): {load_s:.3f} s")

    dense_docs = recs[: args.dense_docs]
    t0 = time.perf_counter()
    didx = build_index(dense_docs, kind="dense")
    t1 = time.perf_counter()
    lat = []
    for q in queries[:200]:
        s = time.perf_counter()
        didx.search(q, 10)
        lat.append((time.perf_counter() - s) * 1000)
    print(
        f"dense (MiniLM, CPU): {len(dense_docs) / (t1 - t0):,.0f} docs/s indexing (incl. model load); "
        f"query latency p50 {np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms"
    )


if __name__ == "__main__":
    main()

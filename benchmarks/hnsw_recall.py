"""HNSW recall@10 against exact search, and query latency, on synthetic embedding-like vectors.

    python benchmarks/hnsw_recall.py [--n 1000000] [--queries 1000] [--dim 384] [--ef 128 256]

Vectors are drawn from a mixture of Gaussian clusters on the unit sphere (real sentence embeddings are
clustered, uniform random vectors are not); queries are perturbed copies of held-out draws. The index is
datamill's DenseIndex (usearch HNSW, default connectivity 16 and ef_search 256), filled with the vectors
directly; exact search is datamill's blocked numpy scan. Also checks incremental add and delete: 1% of
the vectors are deleted and re-added, and recall is measured again.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def vectors(n: int, dim: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        which = rng.integers(0, len(centres), m)
        block = centres[which] + 0.6 * rng.standard_normal((m, dim)).astype(np.float32) / np.sqrt(dim)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def recall(idx, qv: np.ndarray, k: int = 10, ef: int = 128) -> tuple[float, float, float]:  # noqa: ANN001
    """Recall@k of HNSW (search breadth ``ef``) against exact search, and both latencies (ms/query)."""
    idx.ann_index().expansion_search = ef
    stats = idx.ann_recall_vectors(qv, k)
    return stats[f"recall@{k}"], stats["hnsw_ms"], stats["exact_ms"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--ef", type=int, nargs="+", default=[128, 256], help="HNSW search breadths to measure")
    args = ap.parse_args()
    from datamill.incontext import DenseIndex
    from datamill.incontext.dense import _threads
    from datamill.records import Document

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.clusters, args.dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    data = vectors(args.n, args.dim, rng, centres)
    qv = vectors(args.queries, args.dim, rng, centres)
    idx = DenseIndex(ann_threshold=0)
    idx.chunks = [Document(id=str(i), text="") for i in range(args.n)]
    idx.vectors, idx.keys = data, np.arange(args.n, dtype=np.uint64)
    t0, c0 = time.perf_counter(), time.process_time()
    ann = idx._new_ann()  # what DenseIndex.ann_index() builds, filled in steps to print progress
    step = max(10_000, args.n // 10)
    for start in range(0, args.n, step):
        stop = min(args.n, start + step)
        ann.add(idx.keys[start:stop], data[start:stop], threads=_threads())
        print(f"  {stop:,} inserted, {time.perf_counter() - t0:.0f} s", flush=True)
    idx._ann = ann
    build, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"{args.n:,} vectors of {args.dim} dims in {args.clusters:,} clusters; load {os.getloadavg()[0]:.1f}"
        f" on {os.cpu_count()} cores"
    )
    print(
        f"HNSW build: {build:.1f} s ({args.n / build:,.0f} vectors/s), {_threads()} insert threads,"
        f" {cpu / build:.2f} cores busy on average ({args.n / cpu:,.0f} vectors per CPU-second)",
        flush=True,
    )
    for ef in args.ef:
        r, ms, ems = recall(idx, qv, ef=ef)
        print(
            f"ef_search {ef}: recall@10 vs exact {r:.4f}; query latency {ms:.3f} ms (HNSW) vs {ems:.2f} ms"
            f" (exact), x{ems / ms:.0f}",
            flush=True,
        )
    gone = rng.choice(args.n, args.n // 100, replace=False)
    ids = [str(i) for i in gone]
    t0 = time.perf_counter()
    keep = np.setdiff1d(np.arange(args.n), gone)
    idx.chunks = [idx.chunks[i] for i in keep]
    idx._shrink(keep)
    t1 = time.perf_counter()
    back = data[gone]
    idx.chunks.extend(Document(id=f"re{i}", text="") for i in ids)
    keys = np.arange(int(idx.keys[-1]) + 1, int(idx.keys[-1]) + 1 + len(back), dtype=np.uint64)
    idx.vectors = np.vstack([idx.vectors, back])
    idx.keys = np.concatenate([idx.keys, keys])
    idx._ann.add(keys, back, threads=_threads())
    t2 = time.perf_counter()
    r2, ms2, _ = recall(idx, qv, ef=args.ef[0])
    print(
        f"delete {len(gone):,} in {t1 - t0:.2f} s, re-add them in {t2 - t1:.2f} s (no rebuild); "
        f"recall@10 then {r2:.4f} (ef_search {args.ef[0]}), latency {ms2:.3f} ms"
    )


if __name__ == "__main__":
    main()

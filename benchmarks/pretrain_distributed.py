"""Exact + MinHash dedup of N short documents on a simulated multi-node Ray cluster, against the local executor.

    python benchmarks/pretrain_distributed.py [--docs 1000000 3000000 10000000] [--shard-docs 100000]
        [--nodes 3] [--local-workers 2] [--executors local ray] [--corpus-dir /tmp/dm-dist]

For each size a synthetic corpus is written once (Parquet shards of ``--shard-docs`` documents of 40
words drawn from the Self-Instruct seed vocabulary; 1% exact copies and 1% near copies with one word
replaced, all of earlier documents, often in another shard). Each run is a fresh driver process:

* ``local``: the local executor, ``--local-workers`` processes;
* ``ray``: ``ray.cluster_utils.Cluster`` with ``--nodes`` nodes of 1 CPU each on this machine.

Printed per run: wall time, documents/s and documents/s per worker slot, the driver's peak RSS
(its own high-water mark), the largest worker peak RSS (``VmHWM`` of every Ray worker process of the
cluster; for the local executor the largest child process), the documents removed (exact, near)
against the planted ones, and a digest of the kept documents' ids. The checks the issue asks for are
printed at the end: driver peak RSS across sizes (target: within 1.2x), worker peak RSS against the
shard size, and the same removals by both executors on the smallest corpus.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = 40


def make_corpus(folder: Path, docs: int, shard_docs: int) -> dict[str, int]:
    """Parquet shards of synthetic documents with planted exact and near copies (written once)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    done = folder / "corpus.json"
    if done.exists():
        return json.loads(done.read_text())
    seed_tasks = (ROOT / "tests" / "data" / "finetune" / "self_instruct_seed_tasks.jsonl").read_text()
    vocab = np.array(
        sorted({w.lower() for line in seed_tasks.splitlines() for w in re.findall(r"[A-Za-z]+", line)})
    )
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    planted = {"exact": 0, "near": 0}
    for s, lo in enumerate(range(0, docs, shard_docs)):
        hi = min(docs, lo + shard_docs)
        gid = np.arange(lo, hi, dtype=np.int64)
        # 1% exact and 1% near copies (one word replaced) of an earlier document, often in another shard
        kind = rng.random(hi - lo)
        src = np.where(kind < 0.02, (gid * 0.37).astype(np.int64), gid)
        words = vocab[_word_ids(src, len(vocab))]
        near = np.flatnonzero((kind >= 0.01) & (kind < 0.02) & (src < gid))
        words[near, rng.integers(0, WORDS, size=len(near))] = "zzzedited"
        planted["exact"] += int(((kind < 0.01) & (src < gid)).sum())
        planted["near"] += len(near)
        texts = [" ".join(w) for w in words.tolist()]
        table = pa.table({"id": [f"d{i}" for i in gid.tolist()], "text": texts})
        pq.write_table(table, folder / f"part-{s:05d}.parquet")
    info = {"docs": docs, "shard_docs": shard_docs, **planted}
    done.write_text(json.dumps(info))
    return info


def _word_ids(ids, vocab_size: int):  # noqa: ANN001, ANN202 - each document's words, a function of its id
    import numpy as np

    from datamill.pipeline.shuffle import hash_partition  # the same splitmix64, mod vocab_size

    return hash_partition(
        ids[:, None].astype(np.uint64) * np.uint64(WORDS) + np.arange(WORDS, dtype=np.uint64) + np.uint64(1),
        vocab_size,
    )


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _hwm_kb(pid: int) -> int:
    """A process's peak RSS (kB) since it started its program: ``VmHWM``. (``ru_maxrss`` would keep
    the RSS of the parent it was forked from, which Linux carries across ``exec``.)"""
    return int(re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))  # type: ignore[union-attr]


def _worker_peaks(pid: int) -> list[int]:
    """VmHWM (kB) of every Ray worker process under ``pid``."""
    peaks = []
    for p in _descendants(pid):
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0].decode()
            if cmd.startswith("ray::") and not cmd.endswith("Agent"):  # workers, not the node's agents
                peaks.append(_hwm_kb(p))
        except (OSError, AttributeError):
            continue
    return peaks


def drive(corpus: Path, out: Path, executor: str, nodes: int, workers: int) -> dict:
    """One run in this (fresh) process; returns its measurements."""
    from datamill.pipeline import ExactDedup, ParquetReader, Pipeline, RayExecutor, Writer
    from datamill.pretrain import MinhashDedup

    pipe = Pipeline(
        [ExactDedup(), MinhashDedup()],
        reader=ParquetReader(paths=str(corpus / "*.parquet"), record_type="document"),
        writer=Writer(format="parquet"),
    )
    cluster = None
    ex: object = executor
    if executor == "ray":
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ex = RayExecutor(workers=nodes, address=cluster.address)
    peaks: list[int] = []
    t0 = time.time()
    try:
        if executor == "ray":
            import ray

            ray.init(address=cluster.address, log_to_driver=False)  # type: ignore[union-attr]
        result = pipe.run(out, executor=ex, workers=workers, overwrite=True)  # type: ignore[arg-type]
        wall = time.time() - t0
        driver_peak = _hwm_kb(os.getpid())  # before this script reads any output
        peaks = _worker_peaks(os.getpid()) if executor == "ray" else []
    finally:
        if cluster is not None:
            import ray

            ray.shutdown()
            cluster.shutdown()
    if executor == "local":
        peaks = [resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]
    import pyarrow.parquet as pq

    ids = sorted(
        i
        for f in sorted((out / "data").glob("*.parquet"))
        for i in pq.read_table(f, columns=["id"])["id"].to_pylist()
    )
    g = {x["step"]: x for x in result.manifest["global"]}
    return {
        "executor": executor,
        "docs": result.records_in,
        "kept": result.records_out,
        "wall_s": round(wall, 1),
        "slots": nodes if executor == "ray" else workers,
        "driver_peak_mb": round(driver_peak / 1024),
        "worker_peak_mb": round(max(peaks) / 1024) if peaks else None,
        "workers_measured": len(peaks),
        "exact_removed": g["dedup.exact"]["duplicates"],
        "near_removed": g["pretrain.minhash_dedup"]["duplicates"],
        "component_rounds": g["pretrain.minhash_dedup"]["component_rounds"],
        # the reduces' wall time (the shard passes, signatures included, are the rest)
        "reduce_s": round(g["dedup.exact"]["seconds"] + g["pretrain.minhash_dedup"]["seconds"], 1),
        "kept_ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16],
        "load_avg": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    ap.add_argument("--shard-docs", type=int, default=100_000)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--local-workers", type=int, default=2)
    ap.add_argument("--executors", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    ap.add_argument("--corpus-dir", default="/tmp/dm-dist")
    ap.add_argument("--drive", nargs=3, metavar=("CORPUS", "OUT", "EXECUTOR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.drive:
        corpus, out, executor = args.drive
        print(json.dumps(drive(Path(corpus), Path(out), executor, args.nodes, args.local_workers)))
        return
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {os.cpu_count()} CPUs shared with other jobs (load average {os.getloadavg()[0]:.1f})")
    runs = []
    for n in args.docs:
        corpus = Path(args.corpus_dir) / f"corpus-{n}"
        t0 = time.time()
        info = make_corpus(corpus, n, args.shard_docs)
        print(
            f"corpus {n:,} docs ({info['exact']:,} exact + {info['near']:,} near copies planted) "
            f"in {len(list(corpus.glob('*.parquet')))} shards ({time.time() - t0:.0f} s)",
            flush=True,
        )
        for executor in args.executors:
            out = Path(args.corpus_dir) / f"out-{n}-{executor}"
            shutil.rmtree(out, ignore_errors=True)  # a finished run there would only be resumed
            cmd = [
                sys.executable,
                __file__,
                "--drive",
                str(corpus),
                str(out),
                executor,
                "--nodes",
                str(args.nodes),
                "--local-workers",
                str(args.local_workers),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(proc.stderr[-3000:])
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r["planted"] = info
            runs.append(r)
            rate = r["docs"] / r["wall_s"]
            cores = min(r["slots"], os.cpu_count() or 1)
            print(
                f"  {executor:5s} {r['wall_s']:7.1f} s (reduces {r['reduce_s']} s)  {rate:8,.0f} docs/s  "
                f"{rate / cores:7,.0f} docs/s per core ({r['slots']} slots on {cores} cores)  driver peak {r['driver_peak_mb']:,} MB  worker peak {r['worker_peak_mb']} MB "
                f"({r['workers_measured']} measured)  removed exact {r['exact_removed']:,} near {r['near_removed']:,}  "
                f"rounds {r['component_rounds']}  kept ids {r['kept_ids_sha256']}  load {r['load_avg']}",
                flush=True,
            )
    for executor in args.executors:
        mine = [r for r in runs if r["executor"] == executor]
        if len(mine) > 1:
            ratio = max(r["driver_peak_mb"] for r in mine) / min(r["driver_peak_mb"] for r in mine)
            print(
                f"{executor}: driver peak RSS from {mine[0]['docs']:,} to {mine[-1]['docs']:,} docs: "
                f"x{ratio:.2f} (target <= 1.2); worker peaks {[r['worker_peak_mb'] for r in mine]} MB "
                f"with {args.shard_docs:,} docs per shard"
            )
    smallest = min(args.docs)
    pair = {r["executor"]: r for r in runs if r["docs"] == smallest}
    if len(pair) == 2:
        same = pair["local"]["kept_ids_sha256"] == pair["ray"]["kept_ids_sha256"]
        print(f"same documents kept by local and ray on {smallest:,} docs: {same}")


if __name__ == "__main__":
    main()

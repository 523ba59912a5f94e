"""A planted corpus and executors for the distributed global-stage tests (imported by path in subprocesses)."""

from __future__ import annotations

import os
import pickle
import random
import signal
from pathlib import Path
from typing import Any

from datamill.io import write_jsonl
from datamill.pipeline import ExactDedup, JsonlReader, LocalExecutor, Pipeline, Writer
from datamill.pretrain import MinhashDedup, UrlDedup
from datamill.records import Document


def planted_corpus(folder: Path, *, shards: int = 4, per_shard: int = 60, seed: int = 0) -> Path:
    """Shards of 100-word documents with chains of near-duplicates across shards (each link one word
    away from the one before, at the same position of the next shard), exact copies and URL copies."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(3000)]
    docs = [" ".join(rng.choices(vocab, k=100)) for _ in range(shards * per_shard)]
    chained = set()
    for c in range(0, per_shard, 5):
        for s in range(1, shards):
            words = docs[(s - 1) * per_shard + c].split()
            words[rng.randrange(100)] = rng.choice(vocab)
            docs[s * per_shard + c] = " ".join(words)
            chained.add(s * per_shard + c)
    for i in range(3, len(docs), 11):  # exact copies of an earlier document
        if i not in chained:
            docs[i] = docs[i // 2]
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        recs = []
        for k in range(per_shard):
            n = s * per_shard + k
            url = f"https://example.org/page/{n % (shards * per_shard - 9)}?utm_source=x"
            recs.append(Document(id=f"d{n}", text=docs[n], metadata={"url": url}))
        write_jsonl(recs, folder / f"part-{s}.jsonl")
    return folder


def dedup_pipeline(folder: Path, **minhash: Any) -> Pipeline:
    return Pipeline(
        [UrlDedup(), ExactDedup(), MinhashDedup(**minhash)],
        reader=JsonlReader(paths=str(folder / "*.jsonl"), record_type="document"),
        writer=Writer(format="jsonl"),
    )


class RecordingExecutor(LocalExecutor):
    """Runs tasks in this process and records (function name, task count) of each ``map``, and the
    largest pickled arguments of any task of each function (what a driver ships per task)."""

    def __init__(self) -> None:
        super().__init__(1)
        self.calls: list[tuple[str, int]] = []
        self.arg_bytes: dict[str, int] = {}

    def map(self, fn, tasks, on_result) -> None:  # type: ignore[no-untyped-def]
        name = tasks[0][0].__name__ if tasks and callable(tasks[0][0]) else fn.__name__
        self.calls.append((name, len(tasks)))
        for args in tasks:
            size = len(pickle.dumps(args[1:] if callable(args[0]) else args))
            self.arg_bytes[name] = max(self.arg_bytes.get(name, 0), size)
        super().map(fn, tasks, on_result)


class KillingExecutor(LocalExecutor):
    """Runs tasks in this process and SIGKILLs it (the driver) when ``after`` tasks have run."""

    def __init__(self, after: int) -> None:
        super().__init__(1)
        self.after, self.ran = after, 0

    def map(self, fn, tasks, on_result) -> None:  # type: ignore[no-untyped-def]
        for i, args in enumerate(tasks):
            if self.ran == self.after:
                os.kill(os.getpid(), signal.SIGKILL)
            on_result(i, fn(*args))
            self.ran += 1


def slow_dedup_pipeline(folder: Path, seconds: float) -> Pipeline:
    """URL and exact dedup, then a slow step before MinHash: its stage runs long enough to lose a node."""
    pipe = dedup_pipeline(folder)
    cfg = pipe.to_config()
    cfg["steps"].insert(2, {"type": "slow_step:SlowStep", "seconds": seconds})
    return Pipeline.from_config(cfg)


def run_losing_a_node(folder: str, out: str, seconds: float) -> dict[str, Any]:
    """Run :func:`slow_dedup_pipeline` on a 3-node Ray cluster (1 CPU each, simulated on this machine)
    and remove a worker node once the MinHash stage's first shard is done, while others still run."""
    import threading
    import time

    from ray.cluster_utils import Cluster

    from datamill.pipeline import RayExecutor

    t0 = time.time()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    seen: dict[str, Any] = {}

    def remove_one() -> None:
        done = Path(out) / ".datamill" / "done"
        while not (done.exists() and list(done.glob("s2-*.json"))):
            time.sleep(0.02)
        seen["stage_shards_done_at_removal"] = len(list(done.glob("s2-*.json")))
        cluster.remove_node(nodes[0], allow_graceful=False)

    killer = threading.Thread(target=remove_one, daemon=True)
    killer.start()
    t_run = time.time()
    try:
        result = slow_dedup_pipeline(Path(folder), seconds).run(
            out, executor=RayExecutor(workers=3, address=cluster.address)
        )
        killer.join(timeout=5)
        seen["records_out"] = result.records_out
        seen["nodes_left"] = len(cluster.list_all_nodes())
        seen["timings"] = result.manifest["timings"]
        seen["started"] = round(t_run - t0, 2)
    finally:
        __import__("ray").shutdown()
        cluster.shutdown()
    return seen

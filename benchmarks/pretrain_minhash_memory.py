"""Peak memory and time of MinHash dedup (signatures -> buckets -> clusters -> filter) on N short documents.

    python benchmarks/pretrain_minhash_memory.py [--docs 1000000] [--words 30]

Documents are random sequences of real words (from the Self-Instruct seed tasks), 1% planted exact
copies; one process, one shard, default parameters (128 permutations, 9 x 13 bands). The issue's
target: 1M short documents under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1] / "tests" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--words", type=int, default=30)
    args = ap.parse_args()
    from datamill.pretrain import MinhashDedup
    from datamill.records import Document

    vocab = sorted(
        {
            w.lower()
            for line in (SHARED / "finetune" / "self_instruct_seed_tasks.jsonl").read_text().splitlines()
            for w in re.findall(r"[A-Za-z]+", json.loads(line)["instruction"])
        }
    )
    rng = random.Random(0)

    def docs():
        for i in range(args.docs):
            r = random.Random(i - 50 if i % 100 == 99 else i)  # every 100th document repeats an earlier one
            yield Document(id=str(i), text=" ".join(r.choices(vocab, k=args.words)))

    step = MinhashDedup()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as tmp:
        work = os.path.join(tmp, ".datamill", "work", "g0")
        os.makedirs(work)
        t0 = time.perf_counter()
        for _ in step.collect(docs(), shard=0, workdir=work):
            pass
        t1 = time.perf_counter()
        info = step.reduce(workdir=work, num_shards=1)
        t2 = time.perf_counter()
        kept = sum(1 for _ in step.apply(docs(), shard=0, workdir=work))
        t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del rng
    print(
        f"{args.docs:,} docs of {args.words} words: signatures {t1 - t0:.1f} s ({args.docs / (t1 - t0):,.0f} docs/s), "
        f"buckets+clusters {t2 - t1:.1f} s, filter {t3 - t2:.1f} s; kept {kept:,}, duplicates {info['duplicates']:,}"
    )
    print(f"peak RSS {peak / 1024:,.0f} MB (start {rss0 / 1024:,.0f} MB) -- target < 4,096 MB")


if __name__ == "__main__":
    main()

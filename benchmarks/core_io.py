"""Read throughput of datamill's streaming JSONL reader against Hugging Face datasets and pandas.

    python benchmarks/core_io.py [--docs 200000]

Writes a synthetic-but-realistic corpus (web-like paragraphs, ids, metadata) as JSONL.gz once,
then times a full read of it by each tool on the same file and prints docs/s and ratios.
datamill yields typed Document records with provenance (file:line) in bounded memory; the peers
build whole in-memory tables.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import tempfile
import time


def make_corpus(path: str, n: int) -> None:
    rng = random.Random(0)
    with open(__file__, encoding="utf-8") as src:
        words = [w.strip(".,") for w in src.read().split() if w.isalpha()] or ["data"]
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=3) as fh:
        for i in range(n):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(50, 400)))
            fh.write(
                json.dumps({"id": f"doc-{i}", "text": text, "url": f"https://example.org/{i}", "lang": "en"})
                + "\n"
            )


def timed(fn) -> tuple[float, int]:  # noqa: ANN001
    t0 = time.perf_counter()
    n = fn()
    return time.perf_counter() - t0, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=200_000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "corpus.jsonl.gz")
    make_corpus(path, args.docs)
    print(f"corpus: {args.docs:,} docs, {os.path.getsize(path) / 1e6:.1f} MB gzip")

    from datamill.io import read_records

    results = {"datamill read_records": timed(lambda: sum(1 for _ in read_records(path)))}
    try:
        import datasets

        cache = os.path.join(tmp, "hf-cache")
        results["datasets load_dataset(json)"] = timed(
            lambda: len(datasets.load_dataset("json", data_files=path, split="train", cache_dir=cache))
        )
    except ImportError:
        print("datasets not installed: pip install datasets")
    try:
        import pandas as pd

        results["pandas read_json(lines)"] = timed(lambda: len(pd.read_json(path, lines=True)))
    except ImportError:
        print("pandas not installed")
    base = results["datamill read_records"][0]
    for name, (secs, n) in results.items():
        print(
            f"{name:32s} {n:>9,} docs  {secs:7.2f} s  {n / secs:>10,.0f} docs/s  datamill speed-up x{secs / base:.2f}"
        )


if __name__ == "__main__":
    main()

"""Which LSH shape and threshold catch the near-duplicates FineWeb's recipe (5-grams, 14 bands x 8 rows) catches.

    python benchmarks/pretrain_lsh_defaults.py [--docs 4000] [--dup-rate 0.2] [--seeds 3]

The corpus: documents composed of 6-14 real paragraphs (Dolma Common Crawl docs, Self-Instruct tasks;
see pretrain_vs_datatrove.py), so unrelated documents share paragraphs and false positives can happen.
A share of them get one planted near-duplicate with 1-3% of their words replaced (uniformly drawn per
copy). For each setting: the share of planted copies removed (recall), the share of removed documents
that were planted copies (precision), candidate pairs, and the cost: band keys shuffled per document
(16 bytes each: key and document number) and MinHash dedup docs/s in one process.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pretrain_vs_datatrove import compose, real_paragraphs  # noqa: E402

SETTINGS = [  # (label, threshold, bands, rows, verify)
    ("0.8, 9x13 (old default)", 0.8, None, None, True),
    ("0.8, 14x8", 0.8, 14, 8, True),
    ("0.75, 14x8", 0.75, 14, 8, True),
    ("0.7, 14x8", 0.7, 14, 8, True),
    ("0.65, 14x8", 0.65, 14, 8, True),
    ("0.6, 14x8", 0.6, 14, 8, True),
    ("0.7, 16x8", 0.7, 16, 8, True),
    ("14x8 unverified (datatrove)", 0.7, 14, 8, False),
]


def planted(n: int, dup_rate: float, seed: int) -> tuple[list[str], set[int]]:
    rng = random.Random(seed)
    paras, _ = real_paragraphs()
    docs = compose(paras, n, rng)
    copies = set()
    for i in rng.sample(range(n), int(n * dup_rate)):
        words = docs[i].split(" ")
        rate = rng.uniform(0.01, 0.03)
        for j in rng.sample(range(len(words)), max(1, round(len(words) * rate))):
            words[j] = rng.choice(["lorem", "quite", "really", "however", "indeed", "perhaps"])
        copies.add(len(docs))
        docs.append(" ".join(words))
    return docs, copies


def run(docs: list[str], threshold: float, bands: int | None, rows: int | None, verify: bool, seed: int):
    import numpy as np

    from datamill.minhash import band_hashes, lsh_params, minhash_signatures
    from datamill.pretrain.dedup import _cluster, _local_pairs

    b, r = (bands, rows) if bands else lsh_params(threshold, 128)
    t0 = time.perf_counter()
    sigs = minhash_signatures(docs, num_perm=128, ngram=5, seed=seed)
    pairs = _local_pairs(band_hashes(sigs, bands=b, rows=r))
    roots = _cluster(pairs, sigs, threshold if verify else 0.0)
    dt = time.perf_counter() - t0
    removed = set(np.flatnonzero(roots != np.arange(len(roots))).tolist())
    return dt, removed, len(pairs), (b, r)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=4000)
    ap.add_argument("--dup-rate", type=float, default=0.2)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {os.cpu_count()} CPUs (shared with other jobs: speeds are indicative)")
    corpora = [planted(args.docs, args.dup_rate, seed) for seed in range(args.seeds)]
    n = len(corpora[0][0])
    print(
        f"{n} docs per corpus ({len(corpora[0][1])} planted copies, 1-3% of words edited), {args.seeds} corpora"
    )
    print(
        f"  {'setting':30s} {'bands x rows':>12s} {'recall':>7s} {'precision':>9s} {'cand. pairs':>11s} "
        f"{'shuffle B/doc':>13s} {'docs/s':>7s}"
    )
    for label, threshold, bands, rows, verify in SETTINGS:
        rec = prec = cand = secs = 0.0
        for k, (docs, copies) in enumerate(corpora):
            dt, removed, n_pairs, (b, r) = run(docs, threshold, bands, rows, verify, seed=k + 1)
            tp = len(removed & copies)
            rec += tp / len(copies)
            prec += tp / max(1, len(removed))
            cand += n_pairs
            secs += dt
        m = len(corpora)
        print(
            f"  {label:30s} {f'{b}x{r}':>12s} {rec / m:7.3f} {prec / m:9.3f} {cand / m:11.0f} "
            f"{b * 16:13d} {m * n / secs:7.0f}"
        )


if __name__ == "__main__":
    main()

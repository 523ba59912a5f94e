"""datamill's ROUGE-L vs Google's ``rouge-score`` (what Self-Instruct uses) on the same pairs.

    python -m venv --system-site-packages /tmp/peer-rouge && /tmp/peer-rouge/bin/pip install rouge-score
    /tmp/peer-rouge/bin/python benchmarks/synthetic_rouge.py [--pairs 20000]

Two measurements on the 175 Self-Instruct seed instructions (tests/data/finetune):
1. pairwise ROUGE-L F1 of random instruction pairs: pairs/s of each, their ratio, and the largest
   absolute difference of the scores (0 means the same numbers);
2. the Self-Instruct filter itself: for each of the instructions in turn, the highest ROUGE-L against all
   earlier ones (rouge-score: every pair scored, as the Self-Instruct code does; datamill: RougeIndex with its
   token-overlap bound), checking that both find the same maximum.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from datamill.synthetic.rouge import RougeIndex, rouge_l

SEED = Path(__file__).resolve().parents[1] / "tests" / "data" / "finetune" / "self_instruct_seed_tasks.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from rouge_score import rouge_scorer

    texts = [json.loads(line)["instruction"] for line in SEED.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(args.seed)
    pairs = [(rng.choice(texts), rng.choice(texts)) for _ in range(args.pairs)]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)

    t0 = time.perf_counter()
    peer = [scorer.score(b, a)["rougeL"].fmeasure for a, b in pairs]
    t_peer = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = [rouge_l(a, b) for a, b in pairs]
    t_ours = time.perf_counter() - t0
    diff = max(abs(x - y) for x, y in zip(peer, ours, strict=True))
    print(f"pairwise ROUGE-L over {len(pairs):,} pairs of Self-Instruct instructions")
    print(f"  rouge-score {len(pairs) / t_peer:>12,.0f} pairs/s")
    print(
        f"  datamill    {len(pairs) / t_ours:>12,.0f} pairs/s   ratio {t_peer / t_ours:.1f}x   "
        f"max |difference| {diff:.2e}"
    )

    t0 = time.perf_counter()
    peer_max = [
        max((scorer.score(texts[j], texts[i])["rougeL"].fmeasure for j in range(i)), default=0.0)
        for i in range(len(texts))
    ]
    t_peer = time.perf_counter() - t0
    t0 = time.perf_counter()
    index, ours_max = RougeIndex(), []
    for t in texts:
        ours_max.append(index.max_score(t)[0])
        index.add(t)
    t_ours = time.perf_counter() - t0
    same = sum(abs(a - b) < 1e-9 for a, b in zip(peer_max, ours_max, strict=True))
    print(
        f"max ROUGE-L against the pool, {len(texts)} instructions added one by one (the Self-Instruct filter)"
    )
    print(f"  rouge-score {t_peer:8.3f} s (every pair)")
    print(
        f"  datamill    {t_ours:8.3f} s (RougeIndex)   ratio {t_peer / t_ours:.1f}x   "
        f"same maximum for {same}/{len(texts)}"
    )


if __name__ == "__main__":
    main()

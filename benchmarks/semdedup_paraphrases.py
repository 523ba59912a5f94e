"""Semantic dedup (SemDeDup) vs MinHash on planted duplicates of real text.

    python benchmarks/semdedup_paraphrases.py [--cluster-size 50]

The corpus (tests/pretrain/paraphrase_corpus.py): the 175 Self-Instruct seed instructions and their longer
answers, then 64 hand-written paraphrases of instructions and 20 near-verbatim copies of answers (one word
changed). Prints precision and recall of MinHash dedup (datamill's defaults: word 5-grams, Jaccard 0.8),
of semantic dedup alone at several thresholds, and of semantic dedup run after MinHash (what it adds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pretrain"))

from paraphrase_corpus import corpus, scores  # noqa: E402

from datamill.embed import get_embedder  # noqa: E402
from datamill.pretrain import MinhashDedup  # noqa: E402
from datamill.records import Document  # noqa: E402
from datamill.semdedup import semantic_duplicates  # noqa: E402


def row(name: str, s: dict) -> str:
    return f"{name:38s} {s['removed']:7d} {s['found']:5d}/{s['planted']:<3d} {s['precision']:9.2f} {s['recall']:7.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--cluster-size", type=int, default=50, help="k-means cluster size (small: many clusters)"
    )
    args = ap.parse_args()
    docs, planted = corpus()
    ids = [d["id"] for d in docs]
    t0 = time.perf_counter()
    minhash = {d.id for d in docs_of(docs)} - {d.id for d in MinhashDedup()(docs_of(docs))}
    t_minhash = time.perf_counter() - t0
    t0 = time.perf_counter()
    vecs = get_embedder().encode([d["text"] for d in docs])
    t_embed = time.perf_counter() - t0
    print(
        f"{len(docs)} documents, {len(planted)} planted ({sum(k == 'paraphrase' for k in planted.values())} "
        f"paraphrases, {sum(k == 'near_copy' for k in planted.values())} near copies); "
        f"MinHash {t_minhash:.2f} s, embedding {t_embed:.1f} s"
    )
    print("precision: share of the removed documents that were planted; recall: share of the planted found")
    print(f"{'method':38s} {'removed':>7s} {'found':>9s} {'precision':>9s} {'recall':>7s}")
    print(row("MinHash (5-gram, J>=0.8): all planted", scores(minhash, planted)))
    print(row("MinHash: paraphrases", scores(minhash, planted, "paraphrase")))
    after = [i for i, d in enumerate(ids) if d not in minhash]
    for th in (0.7, 0.75, 0.8, 0.85, 0.9):
        found = semantic_duplicates(vecs, threshold=th, cluster_size=args.cluster_size, probes=2)
        alone = {ids[i] for i in np.flatnonzero(found.roots != np.arange(len(ids)))}
        sub = semantic_duplicates(vecs[after], threshold=th, cluster_size=args.cluster_size, probes=2)
        beyond = {ids[after[i]] for i in np.flatnonzero(sub.roots != np.arange(len(after)))}
        default = " (default)" if th == 0.8 else ""
        print(row(f"semantic cos>={th}{default}: paraphrases", scores(alone, planted, "paraphrase")))
        print(row("  MinHash then semantic: all planted", scores(minhash | beyond, planted)))
        print(f"  semantic removed beyond MinHash: {len(beyond)} ({len(beyond & set(planted))} planted)")


def docs_of(docs: list[dict]) -> list[Document]:
    return [Document(id=d["id"], text=d["text"]) for d in docs]


if __name__ == "__main__":
    main()

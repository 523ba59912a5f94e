"""The duplicate rules of :func:`datamill.finetune.clean`: exact, near (MinHash or embeddings) and semantic.

Each rule reads the examples' (instruction, output) pairs and yields ``(index, reason)`` for every
example that repeats an earlier one; the reason names the line of the example it repeats.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import xxhash

from datamill.errors import ConfigError
from datamill.finetune.defects import rejected_text
from datamill.records import Record

__all__ = ["embedding_duplicates", "exact_duplicates", "near_duplicates", "semantic_duplicates"]


def embedding_duplicates(
    texts: Sequence[str], *, threshold: float = 0.95, model: str = "all-MiniLM-L6-v2", block: int = 2048
) -> list[int]:
    """Each text's representative (the first text it is a near-duplicate of, else itself) by embedding
    cosine similarity >= ``threshold``: catches paraphrases that share few word n-grams."""
    import numpy as np

    from datamill.embed import get_embedder
    from datamill.minhash import UnionFind

    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold!r}", params="threshold")
    if not texts:
        return []
    vecs = get_embedder(model).encode(list(texts))  # L2-normalised
    uf = UnionFind(len(texts))
    for lo in range(0, len(texts), block):
        sims = vecs[lo : lo + block] @ vecs.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if c < r + lo:
                uf.union(c, r + lo)
    return [uf.find(i) for i in range(len(texts))]


def exact_duplicates(recs: list[Record], pairs: list[tuple[str, str]]) -> Iterator[tuple[int, str]]:
    """Examples whose instruction and output (and, for a pair, rejected answer) match an earlier one's,
    ignoring case and white space."""
    first: dict[bytes, int] = {}
    for i, (ins, out) in enumerate(pairs):
        text = (
            f"{ins}\x1f{out}\x1f{rejected_text(recs[i])}"  # a pair is a duplicate only with the same rejected
        )
        key = xxhash.xxh3_128_digest(" ".join(text.lower().split()).encode("utf-8", "surrogatepass"))
        if key in first:
            yield i, f"same as line {recs[first[key]].provenance.line or first[key]}"
        else:
            first[key] = i


def near_duplicates(
    recs: list[Record],
    pairs: list[tuple[str, str]],
    *,
    method: str,
    threshold: float,
    embedding_model: str,
) -> Iterator[tuple[int, str]]:
    """Examples near an earlier one: Jaccard of word 3-grams (``minhash``) or embedding cosine (``embedding``)."""
    texts = [f"{ins}\n{out}" for ins, out in pairs]
    if method == "embedding":
        clusters = embedding_duplicates(texts, threshold=threshold, model=embedding_model)
    else:
        from datamill.minhash import near_duplicate_clusters

        clusters = near_duplicate_clusters(texts, threshold=threshold, ngram=3)
    for i, c in enumerate(clusters):
        if c != i:
            yield i, f"near-duplicate of line {recs[c].provenance.line or c} ({method})"


def semantic_duplicates(
    recs: list[Record],
    pairs: list[tuple[str, str]],
    *,
    threshold: float,
    embedding_model: str,
) -> Iterator[tuple[int, str]]:
    """SemDeDup over instruction + output: examples meaning the same as an earlier one."""
    from datamill.semdedup import texts_semantic_duplicates

    found = texts_semantic_duplicates(
        [f"{ins}\n{out}" for ins, out in pairs], threshold=threshold, model=embedding_model
    )
    for i, (root, sim) in enumerate(zip(found.roots.tolist(), found.similarity.tolist(), strict=True)):
        if root != i:
            line = recs[root].provenance.line or root
            yield i, f"same meaning as line {line} (cosine {sim:.2f})"

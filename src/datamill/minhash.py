"""MinHash signatures and LSH near-duplicate clustering, vectorised with numpy.

Shared by every stage that removes near-duplicates (pre-training, fine-tuning sets, synthetic data,
diagnosis of inconsistent labels). The hash family is the classic ``(a * h + b) mod p`` over 32-bit
shingle hashes (xxh3), ``p = 2**61 - 1``, as in datasketch and datatrove.

    >>> from datamill.minhash import near_duplicate_clusters
    >>> near_duplicate_clusters(["the cat sat on the mat today", "the cat sat on the mat today!", "dogs"],
    ...                         ngram=3)
    [0, 0, 2]

Each text gets the index of its cluster's representative (the first member), so ``cid == i`` marks
the copy to keep.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import xxhash

from datamill.errors import ConfigError

__all__ = ["MinHasher", "UnionFind", "lsh_params", "near_duplicate_clusters", "shingle_hashes"]

_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64(0xFFFFFFFF)
_WORD = re.compile(r"\w+", re.UNICODE)


def shingle_hashes(text: str, *, ngram: int = 5, unit: Literal["word", "char"] = "word",
                   lowercase: bool = True) -> np.ndarray:
    """32-bit hashes (as uint64) of the distinct word or character n-grams of ``text``.

    Texts shorter than one n-gram give a single shingle of the whole text, so they still compare.
    """
    if lowercase:
        text = text.lower()
    if unit == "word":
        toks = _WORD.findall(text)
        grams = {" ".join(toks[i:i + ngram]) for i in range(max(1, len(toks) - ngram + 1))} if toks else {""}
    elif unit == "char":
        s = " ".join(text.split())
        grams = {s[i:i + ngram] for i in range(max(1, len(s) - ngram + 1))}
    else:
        raise ConfigError(f"unit must be 'word' or 'char', got {unit!r}")
    return np.fromiter((xxhash.xxh32_intdigest(g.encode("utf-8", "surrogatepass")) for g in grams), dtype=np.uint64, count=len(grams))


class MinHasher:
    """MinHash signatures: ``num_perm`` 32-bit minima per text (deterministic for a ``seed``)."""

    def __init__(self, *, num_perm: int = 128, ngram: int = 5, unit: Literal["word", "char"] = "word",
                 seed: int = 1) -> None:
        if num_perm < 2:
            raise ConfigError(f"num_perm must be >= 2, got {num_perm!r}")
        if ngram < 1:
            raise ConfigError(f"ngram must be >= 1, got {ngram!r}")
        self.num_perm, self.ngram, self.unit, self.seed = num_perm, ngram, unit, seed
        rng = np.random.default_rng(seed)
        self._a = rng.integers(1, 1 << 32, size=num_perm, dtype=np.uint64)[:, None]
        self._b = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint64)[:, None]

    def signature(self, text: str) -> np.ndarray:
        h = shingle_hashes(text, ngram=self.ngram, unit=self.unit)
        return (((self._a * h[None, :] + self._b) % _MERSENNE) & _MAX32).min(axis=1).astype(np.uint32)

    def signatures(self, texts: Iterable[str]) -> np.ndarray:
        """An (n, num_perm) uint32 array."""
        rows = [self.signature(t) for t in texts]
        return np.vstack(rows) if rows else np.zeros((0, self.num_perm), np.uint32)


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising false positives + negatives at
    ``threshold`` (the integral method datasketch uses, equal weights)."""
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"threshold must be between 0 and 1, got {threshold!r}")
    xs = np.linspace(0.0, 1.0, 201)
    best, best_err = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = 1.0 - (1.0 - xs ** r) ** b
            fp = np.trapezoid(p[xs <= threshold], xs[xs <= threshold])
            fn = np.trapezoid(1.0 - p[xs >= threshold], xs[xs >= threshold])
            if fp + fn < best_err:
                best, best_err = (b, r), fp + fn
    return best


class UnionFind:
    """Disjoint sets over 0..n-1; ``find`` returns the smallest member as the root."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            self.parent[hi] = lo


def near_duplicate_clusters(
    texts: Sequence[str],
    *,
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    unit: Literal["word", "char"] = "word",
    bands: int | None = None,
    rows: int | None = None,
    verify: bool = True,
    seed: int = 1,
    signatures: np.ndarray | None = None,
) -> list[int]:
    """Cluster near-duplicates with MinHash LSH; returns each text's representative index.

    Candidate pairs share an LSH bucket; with ``verify`` a pair joins only when its estimated
    Jaccard similarity is at least ``threshold`` (fewer false positives). ``bands``/``rows`` default
    to the optimum for ``threshold``.
    """
    n = len(texts) if signatures is None else len(signatures)
    if bands is None or rows is None:
        bands, rows = lsh_params(threshold, num_perm)
    if bands * rows > num_perm:
        raise ConfigError(f"bands * rows ({bands} * {rows}) exceeds num_perm ({num_perm})")
    sigs = signatures if signatures is not None else MinHasher(num_perm=num_perm, ngram=ngram, unit=unit,
                                                                seed=seed).signatures(texts)
    uf = UnionFind(n)
    for band in range(bands):
        chunk = np.ascontiguousarray(sigs[:, band * rows:(band + 1) * rows])
        keys = chunk.view(np.dtype((np.void, chunk.dtype.itemsize * rows))).ravel()
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for s, e in zip(starts, ends, strict=True):
            if e - s < 2:
                continue
            members = order[s:e]
            first = int(members.min())
            for m in members:
                m = int(m)
                if m == first or uf.find(m) == uf.find(first):
                    continue
                if not verify or float(np.mean(sigs[m] == sigs[first])) >= threshold:
                    uf.union(first, m)
    return [uf.find(i) for i in range(n)]

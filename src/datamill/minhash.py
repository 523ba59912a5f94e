"""MinHash signatures and LSH near-duplicate clustering, vectorised with numpy across documents.

The one implementation every stage uses to find near-duplicates (pre-training corpora, fine-tuning
sets, synthetic data, inconsistent labels in diagnosis)::

    >>> from datamill.minhash import near_duplicate_clusters
    >>> near_duplicate_clusters(["the cat sat on the mat today", "the cat sat on the mat today!", "dogs"],
    ...                         ngram=3)
    [0, 0, 2]

Each text gets the index of its cluster's representative (the lowest index), so ``cid[i] == i``
marks the copy to keep.

* :func:`minhash_signatures` gives an ``(n, num_perm)`` uint32 array. Shingles are word n-grams
  (``\\w+`` tokens) or character n-grams (white space collapsed); a text shorter than one n-gram is
  one shingle. Tokens are hashed with xxh3-64, n-grams combined with a rolling polynomial and a
  splitmix64 finaliser, then permuted with multiply-shift hashing ``(a * h + b) >> 32`` (random odd
  64-bit ``a``; a 2-universal family, cheaper than datasketch's ``mod 2**61 - 1``), all in numpy over
  batches of documents.
* :func:`band_hashes` gives the ``(n, bands)`` uint64 LSH bucket keys the cross-shard dedup step
  (:class:`datamill.pretrain.dedup.MinhashDedup`) shuffles on; :func:`lsh_params` picks bands x rows
  for a threshold.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import xxhash

from datamill.errors import ConfigError

__all__ = [
    "MinHasher",
    "UnionFind",
    "band_hashes",
    "lsh_params",
    "minhash_signatures",
    "near_duplicate_clusters",
    "shingle_hashes",
]

_SHIFT = np.uint64(32)
_MAX32 = np.uint64(0xFFFFFFFF)
_BASE = np.uint64(0x100000001B3)
_WORD = re.compile(r"\w+", re.UNICODE)
_BATCH_DOCS = 2048
_BATCH_SHINGLES = 4096


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, low 32 bits (uint64 arithmetic wraps, as intended)."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(30))
        h = h * np.uint64(0xBF58476D1CE4E5B9)
        h = h ^ (h >> np.uint64(27))
        h = h * np.uint64(0x94D049BB133111EB)
        h = h ^ (h >> np.uint64(31))
    return h & _MAX32


def _units(texts: Sequence[str], unit: str, lowercase: bool) -> list[np.ndarray]:
    """Each text's token hashes (words) or code points (chars); a word is hashed once per batch."""
    if lowercase:
        texts = [t.lower() for t in texts]
    if unit == "word":
        toks = [_WORD.findall(t) for t in texts]
        cache: dict[str, int] = {}
        for ts in toks:
            for w in ts:
                if w not in cache:
                    cache[w] = xxhash.xxh3_64_intdigest(w.encode("utf-8", "surrogatepass"))
        get = cache.__getitem__
        return [np.fromiter(map(get, ts), dtype=np.uint64, count=len(ts)) for ts in toks]
    return [
        np.frombuffer(" ".join(t.split()).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(
            np.uint64
        )
        for t in texts
    ]


def _batch_shingles(
    texts: Sequence[str], ngram: int, unit: str, lowercase: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of a batch, flat, and each text's start offset into them."""
    units = _units(texts, unit, lowercase)
    lens = np.fromiter((max(len(u), ngram) for u in units), dtype=np.int64, count=len(units))
    flat = np.zeros(int(lens.sum()), dtype=np.uint64)  # short texts padded with zeros to one n-gram
    starts = np.zeros(len(units), dtype=np.int64)
    if len(units) > 1:
        starts[1:] = np.cumsum(lens)[:-1]
    for u, s in zip(units, starts, strict=True):
        flat[s : s + len(u)] = u
    total = len(flat) - ngram + 1
    h = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(ngram):
            h = h * _BASE + flat[j : j + total]
    counts = lens - ngram + 1
    offsets = np.zeros(len(units), dtype=np.int64)
    if len(units) > 1:
        offsets[1:] = np.cumsum(counts)[:-1]
    idx = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()), dtype=np.int64)
    return _mix(h[idx]), offsets


def shingle_hashes(
    text: str, *, ngram: int = 5, unit: Literal["word", "char"] = "word", lowercase: bool = True
) -> np.ndarray:
    """The 32-bit shingle hashes (as uint64, possibly repeated) :func:`minhash_signatures` uses."""
    _check(ngram=ngram, unit=unit, num_perm=2)
    return _batch_shingles([text], ngram, unit, lowercase)[0]


def _check(*, ngram: int, unit: str, num_perm: int) -> None:
    if unit not in ("word", "char"):
        raise ConfigError(f"unit must be 'word' or 'char', got {unit!r}")
    if ngram < 1:
        raise ConfigError(f"ngram must be >= 1, got {ngram!r}")
    if num_perm < 2:
        raise ConfigError(f"num_perm must be >= 2, got {num_perm!r}")


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, np.iinfo(np.uint64).max, size=num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
    b = rng.integers(0, np.iinfo(np.uint64).max, size=num_perm, dtype=np.uint64, endpoint=True)
    return a[:, None], b[:, None]


def minhash_signatures(
    texts: Sequence[str],
    *,
    num_perm: int = 128,
    ngram: int = 5,
    unit: Literal["word", "char"] = "word",
    seed: int = 1,
    lowercase: bool = True,
) -> np.ndarray:
    """MinHash signatures of ``texts`` as an ``(n, num_perm)`` uint32 array.

    Args:
        texts: the documents.
        num_perm: permutations (signature length).
        ngram: shingle size in words (``unit="word"``) or characters (``unit="char"``).
        unit: ``"word"`` or ``"char"`` shingles.
        seed: seeds the permutations; signatures compare only under the same seed and parameters.
        lowercase: lowercase before shingling.
    """
    _check(ngram=ngram, unit=unit, num_perm=num_perm)
    a, b = _permutations(num_perm, seed)
    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    for lo in range(0, len(texts), _BATCH_DOCS):
        batch = texts[lo : lo + _BATCH_DOCS]
        sh, offsets = _batch_shingles(batch, ngram, unit, lowercase)
        ends = np.r_[offsets[1:], len(sh)]
        # permute doc-aligned chunks of about _BATCH_SHINGLES shingles to bound memory
        d = 0
        while d < len(batch):
            e = int(np.searchsorted(ends, offsets[d] + _BATCH_SHINGLES, side="right"))
            e = max(e, d + 1)
            s0, s1 = int(offsets[d]), int(ends[e - 1])
            x = sh[None, s0:s1] * a  # multiply-shift: (a * h + b) >> 32 with 64-bit wrapping
            x += b
            x >>= _SHIFT
            out[lo + d : lo + e] = np.minimum.reduceat(x, offsets[d:e] - s0, axis=1).T
            d = e
    return out


def band_hashes(signatures: np.ndarray, *, bands: int, rows: int) -> np.ndarray:
    """One 64-bit bucket key per (text, band): xxh3 of the band's ``rows`` signature values."""
    n, num_perm = signatures.shape
    if bands * rows > num_perm:
        raise ConfigError(f"bands * rows ({bands} * {rows}) exceeds num_perm ({num_perm})")
    out = np.empty((n, bands), dtype=np.uint64)
    sig = np.ascontiguousarray(signatures[:, : bands * rows].astype(np.uint32))
    for band in range(bands):
        chunk = np.ascontiguousarray(sig[:, band * rows : (band + 1) * rows])
        raw = chunk.tobytes()
        width = rows * 4
        out[:, band] = np.fromiter(
            (xxhash.xxh3_64_intdigest(raw[i * width : (i + 1) * width]) ^ band for i in range(n)),
            dtype=np.uint64,
            count=n,
        )
    return out


class MinHasher:
    """:func:`minhash_signatures` with its parameters bound (deterministic for a ``seed``)."""

    def __init__(
        self,
        *,
        num_perm: int = 128,
        ngram: int = 5,
        unit: Literal["word", "char"] = "word",
        seed: int = 1,
        lowercase: bool = True,
    ) -> None:
        _check(ngram=ngram, unit=unit, num_perm=num_perm)
        self.num_perm, self.ngram, self.unit, self.seed, self.lowercase = (
            num_perm,
            ngram,
            unit,
            seed,
            lowercase,
        )

    def signature(self, text: str) -> np.ndarray:
        return self.signatures([text])[0]

    def signatures(self, texts: Iterable[str]) -> np.ndarray:
        """An ``(n, num_perm)`` uint32 array."""
        return minhash_signatures(
            list(texts),
            num_perm=self.num_perm,
            ngram=self.ngram,
            unit=self.unit,
            seed=self.seed,
            lowercase=self.lowercase,
        )


@functools.lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising false positives + negatives at
    ``threshold`` (the integral method datasketch uses, equal weights)."""
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"threshold must be between 0 and 1, got {threshold!r}")
    xs = np.linspace(0.0, 1.0, 201)
    best, best_err = (1, num_perm), float("inf")  # (bands, rows), false positive + negative area
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = 1.0 - (1.0 - xs**r) ** b
            fp = np.trapezoid(p[xs <= threshold], xs[xs <= threshold])
            fn = np.trapezoid(1.0 - p[xs >= threshold], xs[xs >= threshold])
            if fp + fn < best_err:
                best, best_err = (b, r), float(fp + fn)
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
    if signatures is not None:
        num_perm = signatures.shape[1]
    if bands is None or rows is None:
        bands, rows = lsh_params(threshold, num_perm)
    if bands * rows > num_perm:
        raise ConfigError(f"bands * rows ({bands} * {rows}) exceeds num_perm ({num_perm})")
    sigs = (
        signatures
        if signatures is not None
        else minhash_signatures(texts, num_perm=num_perm, ngram=ngram, unit=unit, seed=seed)
    )
    uf = UnionFind(n)
    for band in range(bands):
        chunk = np.ascontiguousarray(sigs[:, band * rows : (band + 1) * rows])
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

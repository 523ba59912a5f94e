"""Semantic deduplication (SemDeDup): embed, cluster with k-means, drop near-identical meanings per cluster.

Abbas et al., "SemDeDup: Data-efficient learning at web-scale through semantic deduplication" (2023):
documents are embedded, the embeddings clustered with k-means, and inside each cluster every pair whose
cosine similarity reaches ``threshold`` is a duplicate. Comparing pairs only inside a cluster keeps the
cost near ``n * cluster_size`` instead of ``n**2``; a pair split across two clusters is missed, which is
the price the paper pays too (``probes=2`` also looks in each document's second-nearest cluster).

As in the paper, a document is dropped when an earlier one (by shard, then position) is within the
threshold; its representative is the kept document its most similar earlier match leads back to, so the
result is deterministic. Works on
L2-normalised float vectors (``datamill.embed`` gives those), where a dot product is the cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from datamill.errors import ConfigError

__all__ = [
    "SemanticClusters",
    "check_semdedup_params",
    "cluster_pairs",
    "groups_of",
    "kmeans",
    "merge_pairs",
    "nearest_centroids",
    "semantic_duplicates",
    "texts_semantic_duplicates",
]

_SAMPLE = 50_000  # k-means is fitted on at most this many vectors, then every vector is assigned


def check_semdedup_params(*, threshold: float, cluster_size: int, probes: int = 1) -> None:
    """ConfigError for a threshold outside (0, 1], a cluster size below 1 or probes outside 1..4."""
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold!r}", params="threshold")
    if cluster_size < 1:
        raise ConfigError(f"cluster_size must be >= 1, got {cluster_size!r}", params="cluster_size")
    if not 1 <= probes <= 4:
        raise ConfigError(f"probes must be between 1 and 4, got {probes!r}", params="probes")


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def nearest_centroids(vecs: np.ndarray, centroids: np.ndarray, probes: int, block: int = 8192) -> np.ndarray:
    """The ``probes`` most similar centroids of every vector, best first: an (n, probes) int array."""
    out = np.empty((len(vecs), probes), dtype=np.int64)
    for lo in range(0, len(vecs), block):
        sims = vecs[lo : lo + block] @ centroids.T
        if probes == 1:
            out[lo : lo + block, 0] = sims.argmax(axis=1)
        else:
            top = np.argpartition(-sims, probes - 1, axis=1)[:, :probes]
            order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
            out[lo : lo + block] = np.take_along_axis(top, order, axis=1)
    return out


def kmeans(vecs: np.ndarray, k: int, *, seed: int = 0, iters: int = 10, sample: int = _SAMPLE) -> np.ndarray:
    """Spherical k-means centroids (k, dim) of normalised ``vecs``: k-means++ seeding, Lloyd iterations on a
    seeded sample of at most ``sample`` vectors. The same input and seed give the same centroids."""
    n = len(vecs)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    data = vecs if n <= sample else vecs[np.sort(rng.choice(n, size=sample, replace=False))]
    data = np.asarray(data, dtype=np.float32)
    m = len(data)
    # k-means++: each next centre drawn with probability proportional to its distance from the chosen ones
    centroids = np.empty((k, data.shape[1]), dtype=np.float32)
    centroids[0] = data[rng.integers(m)]
    dist = np.maximum(0.0, 2.0 - 2.0 * (data @ centroids[0]))
    for c in range(1, k):
        total = float(dist.sum())
        pick = int(rng.choice(m, p=dist / total)) if total > 0 else int(rng.integers(m))
        centroids[c] = data[pick]
        dist = np.minimum(dist, np.maximum(0.0, 2.0 - 2.0 * (data @ centroids[c])))
    for _ in range(iters):
        assign = nearest_centroids(data, centroids, 1)[:, 0]
        order = np.argsort(assign, kind="stable")
        counts = np.bincount(assign, minlength=k)
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        empty = counts == 0
        sums = np.zeros_like(centroids)
        if (~empty).any():
            sums[~empty] = np.add.reduceat(data[order], starts[~empty], axis=0)
        new = _normalise(np.where(empty[:, None], centroids, sums))
        if np.allclose(new, centroids, atol=1e-6):
            break
        centroids = new.astype(np.float32)
    return centroids


@dataclass
class SemanticClusters:
    """What :func:`semantic_duplicates` found: each vector's representative and how close it came."""

    roots: np.ndarray  # (n,) each vector's kept representative (itself when kept)
    similarity: np.ndarray  # (n,) best cosine similarity to an earlier vector (0 for kept ones)
    clusters: int  # k-means clusters used
    pairs: int  # pairs at or above the threshold

    @property
    def duplicates(self) -> int:
        return int((self.roots != np.arange(len(self.roots))).sum())


def cluster_pairs(
    vecs: np.ndarray, members: np.ndarray, threshold: float, block: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j), i < j, of ``members`` (global indices into ``vecs``) with cosine >= ``threshold``,
    and their similarities."""
    members = np.sort(np.asarray(members, dtype=np.int64))
    if len(members) < 2:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
    sub = np.asarray(vecs[members], dtype=np.float32)
    found, sims_out = [], []
    for lo in range(0, len(sub), block):
        sims = sub[lo : lo + block] @ sub.T
        rows, cols = np.nonzero(sims >= threshold)
        keep = cols > rows + lo
        rows, cols = rows[keep], cols[keep]
        found.append(np.stack([members[rows + lo], members[cols]], axis=1))
        sims_out.append(sims[rows, cols].astype(np.float32))
    return np.concatenate(found), np.concatenate(sims_out)


def groups_of(assign: np.ndarray, k: int) -> list[np.ndarray]:
    """Members of every cluster (a vector probed into two clusters is in both)."""
    flat = assign.ravel()
    owners = np.repeat(np.arange(len(assign), dtype=np.int64), assign.shape[1])
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(k + 1))
    return [np.unique(owners[order[bounds[c] : bounds[c + 1]]]) for c in range(k)]


def merge_pairs(n: int, pairs: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SemDeDup's rule over ``pairs`` (i < j): a document is a duplicate when an earlier one is within the
    threshold. Returns each document's representative (itself when kept; else the kept document its most
    similar earlier match leads back to) and that best similarity (0 for kept documents)."""
    roots = np.arange(n, dtype=np.int64)
    best = np.zeros(n, dtype=np.float32)
    if not len(pairs):
        return roots, best
    # per later document j: its most similar earlier document (ties: the earliest)
    order = np.lexsort((pairs[:, 0], -sims, pairs[:, 1]))
    later, earlier, sim = pairs[order, 1], pairs[order, 0], sims[order]
    first = np.r_[True, later[1:] != later[:-1]]
    match = dict(zip(later[first].tolist(), earlier[first].tolist(), strict=True))
    best[later[first]] = sim[first]
    for j in sorted(match):  # increasing j: an earlier document's representative is already final
        i = match[j]
        roots[j] = roots[i]
    return roots, best


def semantic_duplicates(
    vecs: np.ndarray,
    *,
    threshold: float = 0.8,
    cluster_size: int = 1000,
    probes: int = 1,
    seed: int = 0,
) -> SemanticClusters:
    """SemDeDup over normalised ``vecs``: k-means into about ``n / cluster_size`` clusters, pairs with
    cosine >= ``threshold`` inside each cluster; each vector with an earlier match is a duplicate."""
    check_semdedup_params(threshold=threshold, cluster_size=cluster_size, probes=probes)
    vecs = np.asarray(vecs, dtype=np.float32)
    n = len(vecs)
    if n == 0:
        return SemanticClusters(np.zeros(0, np.int64), np.zeros(0, np.float32), 0, 0)
    k = max(1, -(-n // cluster_size))
    centroids = kmeans(vecs, k, seed=seed)
    k = len(centroids)
    groups = [g for g in groups_of(nearest_centroids(vecs, centroids, min(probes, k)), k) if len(g) > 1]
    found = [cluster_pairs(vecs, g, threshold) for g in groups]
    pairs = np.concatenate([p for p, _ in found]) if found else np.zeros((0, 2), np.int64)
    sims = np.concatenate([s for _, s in found]) if found else np.zeros(0, np.float32)
    roots, best = merge_pairs(n, pairs, sims)
    return SemanticClusters(
        roots=roots, similarity=best, clusters=k, pairs=int(len(np.unique(pairs, axis=0)))
    )


def texts_semantic_duplicates(
    texts: Sequence[str],
    *,
    threshold: float = 0.8,
    cluster_size: int = 1000,
    probes: int = 1,
    model: str = "all-MiniLM-L6-v2",
    seed: int = 0,
) -> SemanticClusters:
    """:func:`semantic_duplicates` of ``texts`` embedded with ``model`` (``datamill.embed``)."""
    from datamill.embed import get_embedder

    check_semdedup_params(threshold=threshold, cluster_size=cluster_size, probes=probes)
    vecs = get_embedder(model).encode(list(texts)) if texts else np.zeros((0, 1), np.float32)
    return semantic_duplicates(vecs, threshold=threshold, cluster_size=cluster_size, probes=probes, seed=seed)

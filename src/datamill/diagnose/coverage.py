"""Coverage ("never seen"): how close each evaluated input is to the training set.

Inputs are embedded (normalised vectors, so a dot product is the cosine similarity). Each item's
coverage is the mean similarity of its ``k`` nearest training inputs. The eval set is clustered
(k-means) and each cluster's density ratio is its share of the training set over its share of the
eval set: a ratio near 0 is a region the model was tested on but barely trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Cluster", "cluster_coverage", "coverage_scores", "knn", "project_2d"]


def knn(
    queries: np.ndarray, base: np.ndarray, k: int, *, exclude_self: bool = False, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of the ``k`` nearest ``base`` rows of each query, best first.

    With ``exclude_self`` (queries are ``base``), a row is never its own neighbour. Missing
    neighbours (``k`` larger than the base) are index ``-1`` with similarity ``-inf``.
    """
    n = len(queries)
    kk = min(k, len(base) - (1 if exclude_self else 0))
    idx = np.full((n, k), -1, dtype=np.int64)
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    if kk <= 0 or n == 0:
        return idx, sims
    for start in range(0, n, chunk):
        s = queries[start : start + chunk] @ base.T
        if exclude_self:
            rows = np.arange(len(s))
            s[rows, start + rows] = -np.inf
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        ps = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        idx[start : start + len(s), :kk] = np.take_along_axis(part, order, axis=1)
        sims[start : start + len(s), :kk] = np.take_along_axis(ps, order, axis=1)
    return idx, sims


def coverage_scores(sims: np.ndarray) -> np.ndarray:
    """Mean similarity of the available nearest neighbours (rows of ``knn`` similarities)."""
    ok = np.isfinite(sims)
    total = np.where(ok, sims, 0.0).sum(axis=1)
    return (total / np.maximum(ok.sum(axis=1), 1)).astype(np.float32)


@dataclass(slots=True)
class Cluster:
    """A region of the eval set with how much training data and how many mistakes fall in it."""

    id: int
    eval_items: list[int]
    train_count: int
    density_ratio: float  # (share of train) / (share of eval); < 1 means under-covered
    mistakes: int
    mistake_rate: float
    mean_coverage: float


def _kmeans(x: np.ndarray, k: int, *, seed: int = 0, iters: int = 30) -> np.ndarray:
    """Cluster centres of ``x`` (k-means++ init, Lloyd iterations; spherical since rows are unit vectors)."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=3, max_iter=iters, random_state=seed).fit(x)
    centres = km.cluster_centers_.astype(np.float32)
    return centres / np.clip(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12, None)


def cluster_coverage(
    eval_vecs: np.ndarray,
    train_vecs: np.ndarray,
    mistakes: np.ndarray,
    coverage: np.ndarray,
    *,
    n_clusters: int | None = None,
    seed: int = 0,
) -> tuple[list[Cluster], np.ndarray]:
    """Cluster the eval set and measure each cluster's training density; returns (clusters, eval labels)."""
    n = len(eval_vecs)
    k = n_clusters or max(2, min(30, int(round(np.sqrt(n / 2)))))
    k = min(k, n)
    if k < 2:
        return [], np.zeros(n, dtype=np.int64)
    centres = _kmeans(eval_vecs, k, seed=seed)
    ev_lab = np.argmax(eval_vecs @ centres.T, axis=1)
    tr_lab = (
        np.concatenate(
            [np.argmax(train_vecs[i : i + 4096] @ centres.T, axis=1) for i in range(0, len(train_vecs), 4096)]
        )
        if len(train_vecs)
        else np.zeros(0, int)
    )
    out = []
    for c in range(k):
        members = np.flatnonzero(ev_lab == c)
        if len(members) == 0:
            continue
        n_train = int(np.sum(tr_lab == c))
        ratio = (n_train / max(len(train_vecs), 1)) / (len(members) / n)
        n_mis = int(mistakes[members].sum())
        out.append(
            Cluster(
                id=c,
                eval_items=members.tolist(),
                train_count=n_train,
                density_ratio=float(ratio),
                mistakes=n_mis,
                mistake_rate=n_mis / len(members),
                mean_coverage=float(coverage[members].mean()),
            )
        )
    out.sort(key=lambda cl: (cl.density_ratio, -cl.mistake_rate))
    return out, ev_lab


def project_2d(vecs: np.ndarray) -> np.ndarray:
    """A 2-D PCA projection (deterministic sign) of the rows, for the coverage map."""
    if len(vecs) == 0:
        return np.zeros((0, 2), dtype=np.float32)
    centred = vecs - vecs.mean(axis=0)
    _, _, vt = np.linalg.svd(centred[:: max(1, len(centred) // 5000)], full_matrices=False)
    comps = vt[:2]
    comps = comps * np.sign(comps[:, :1] + 1e-12)
    out = centred @ comps.T
    if out.shape[1] < 2:
        out = np.hstack([out, np.zeros((len(out), 2 - out.shape[1]))])
    return out.astype(np.float32)

"""Noisy labels: confident learning (numpy, equal to cleanlab's ``find_label_issues``) and, for
generative data, training examples whose output disagrees with a strong majority of their neighbours.

Confident learning (Northcutt et al., 2021) counts, per given label, the examples confidently
predicted to belong to another class (``p >= mean self-confidence of that class``), calibrates that
"confident joint" to the label counts and prunes, per (given, likely) cell, the examples with the
largest margin ``p(likely) - p(given)``. The defaults reproduce ``cleanlab.filter.find_label_issues``
(``filter_by="prune_by_noise_rate"``, ``frac_noise=1``, ``min_examples_per_class=1``) exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from datamill.errors import ConfigError, InputError

__all__ = [
    "NoisyExample",
    "compute_confident_joint",
    "find_label_issues",
    "knn_pred_probs",
    "label_quality_scores",
    "load_label_arrays",
    "neighbour_disagreement",
    "output_disagreement",
]

_FLOAT_EPS = 1e-6
_TINY = 1e-100
RankBy = Literal["self_confidence", "normalized_margin"]


def _check(labels: Any, pred_probs: Any) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    probs = np.asarray(pred_probs, dtype=float)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ConfigError(f"pred_probs must be an (n, K>=2) array, got shape {probs.shape}")
    if labels.ndim != 1 or len(labels) != len(probs):
        raise ConfigError(f"labels must be a vector of length {len(probs)}, got shape {labels.shape}")
    if (
        not np.issubdtype(labels.dtype, np.integer)
        or len(labels)
        and (labels.min() < 0 or labels.max() >= probs.shape[1])
    ):
        raise ConfigError(f"labels must be integers in 0..{probs.shape[1] - 1}")
    return labels.astype(np.int64), probs


def _round_preserving_sum(floats: np.ndarray) -> np.ndarray:
    ints = floats.round()
    orig_sum = np.sum(floats).round()
    int_sum = np.sum(ints).round()
    while abs(int_sum - orig_sum) > _FLOAT_EPS:
        diff = np.round(orig_sum - int_sum)
        inc = -1 if diff < 0 else 1
        changes = min(int(abs(diff)), len(floats))
        for i in np.argsort(floats - ints)[::-inc][:changes]:
            ints[i] += inc
        int_sum = np.sum(ints).round()
    return ints.astype(int)


def compute_confident_joint(labels: Any, pred_probs: Any, *, calibrate: bool = True) -> np.ndarray:
    """The (K, K) confident joint: rows given label, columns likely true label (calibrated counts)."""
    labels, probs = _check(labels, pred_probs)
    k = probs.shape[1]
    counts = np.bincount(labels, minlength=k)
    thresholds = np.array([probs[labels == c, c].mean() if counts[c] else 2.0 for c in range(k)])
    thresholds = np.clip(thresholds, 2 * _FLOAT_EPS, None)
    confident = probs >= thresholds - 1e-6
    n_conf = confident.sum(axis=1)
    guess = np.where(n_conf > 1, probs.argmax(axis=1), confident.argmax(axis=1))
    keep = n_conf > 0
    cj = np.zeros((k, k), dtype=np.int64)
    np.add.at(cj, (labels[keep], guess[keep]), 1)
    np.fill_diagonal(cj, cj.diagonal().clip(min=1))
    if not calibrate:
        return cj
    cal = (cj.T / np.clip(cj.sum(axis=1), _TINY, None) * counts).T
    cal = cal / np.clip(cal.sum(), _TINY, None) * counts.sum()
    return np.vstack([_round_preserving_sum(row) for row in cal])


def _keep_at_least_n_per_class(prune: np.ndarray, n: int, frac_noise: float) -> np.ndarray:
    diag = np.diagonal(prune)
    new_diag = np.maximum(diag, n)
    diff = new_diag - diag
    per_col = np.maximum(np.count_nonzero(prune, axis=0) - 1.0, 1.0)
    new = prune - diff / per_col
    new[new < 0] = 0
    np.fill_diagonal(new, new_diag)
    reduced = new * frac_noise
    np.fill_diagonal(reduced, new.diagonal() + np.sum(new - reduced, axis=0))
    reduced = reduced.astype(int)
    return np.vstack([_round_preserving_sum(row.astype(float)) for row in reduced]).astype(int)


def label_quality_scores(labels: Any, pred_probs: Any, *, method: RankBy = "self_confidence") -> np.ndarray:
    """Per-example label quality in [0, 1] (low = likely wrong), as cleanlab's ``rank`` module."""
    labels, probs = _check(labels, pred_probs)
    self_conf = probs[np.arange(len(labels)), labels]
    if method == "self_confidence":
        return self_conf
    if method == "normalized_margin":
        others = probs.copy()
        others[np.arange(len(labels)), labels] = -np.inf
        return (self_conf - others.max(axis=1) + 1) / 2
    raise ConfigError(f"method must be 'self_confidence' or 'normalized_margin', got {method!r}")


def find_label_issues(
    labels: Any,
    pred_probs: Any,
    *,
    frac_noise: float = 1.0,
    min_examples_per_class: int = 1,
    return_indices_ranked_by: RankBy | None = None,
) -> np.ndarray:
    """Boolean mask of likely label errors (or their indices, worst first, with ``return_indices_ranked_by``).

    Args:
        labels: given labels, integers ``0..K-1``.
        pred_probs: out-of-sample predicted probabilities, shape ``(n, K)`` (e.g. from cross-validation).
        frac_noise: return only the top ``frac_noise`` share of the estimated issues per cell.
        min_examples_per_class: never prune a class below this many examples.
        return_indices_ranked_by: ``None`` for a mask; else rank the issues by this quality score.
    """
    labels, probs = _check(labels, pred_probs)
    if not 0 < frac_noise <= 1:
        raise ConfigError(f"frac_noise must be in (0, 1], got {frac_noise!r}")
    k = probs.shape[1]
    cj = compute_confident_joint(labels, probs)
    prune = _keep_at_least_n_per_class(cj.T, min_examples_per_class, frac_noise)
    mask = np.zeros(len(labels), dtype=bool)
    for given in range(k):
        rows = np.flatnonzero(labels == given)
        if len(rows) <= min_examples_per_class:
            continue
        sub = probs[rows]
        local = np.zeros(len(rows), dtype=bool)
        for likely in range(k):
            num = prune[likely, given]
            if likely != given and num > 0:
                order = np.argsort(-(sub[:, likely] - sub[:, given]))
                local[order[:num]] = True
        mask[rows] = local
    # an example whose given label is (within float noise) the argmax is never an issue
    bumped = probs.copy()
    bumped[np.arange(len(labels)), labels] += _FLOAT_EPS
    mask[bumped.argmax(axis=1) == labels] = False
    if return_indices_ranked_by is None:
        return mask
    idx = np.flatnonzero(mask)
    scores = label_quality_scores(labels, probs, method=return_indices_ranked_by)[mask]
    return idx[np.argsort(scores)]


def knn_pred_probs(
    labels: Any,
    neighbours: np.ndarray,
    sims: np.ndarray,
    n_classes: int,
    *,
    power: float = 3.0,
    prior: float = 1e-3,
) -> np.ndarray:
    """Out-of-sample class probabilities from each example's nearest *other* examples (leave-one-out kNN).

    For a training set without model probabilities: each example's label distribution is the
    similarity-weighted vote (``sim ** power``) of its neighbours, never itself, so the result can
    feed :func:`find_label_issues` like cross-validated probabilities.

    Args:
        labels: integer labels ``0..n_classes-1``.
        neighbours: ``(n, k)`` indices of each example's nearest other examples (``-1`` = none).
        sims: the matching cosine similarities.
        n_classes: number of classes.
        power: sharpens the vote towards the closest neighbours.
        prior: added to every class so no probability is exactly 0.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    probs = np.full((n, n_classes), prior, dtype=float)
    ok = (neighbours >= 0) & np.isfinite(sims)
    weights = np.where(ok, np.clip(sims, 0.0, None), 0.0) ** power
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    cols = labels[np.where(ok, neighbours, 0)].ravel()
    np.add.at(probs, (rows, cols), weights.ravel())
    return probs / probs.sum(axis=1, keepdims=True)


@dataclass(slots=True)
class NoisyExample:
    """A training example whose target disagrees with most of its near neighbours."""

    index: int
    target: str
    majority: str
    agreement: float  # share of neighbours holding the majority target
    score: float  # higher = more likely wrong
    neighbours: list[int]


def neighbour_disagreement(
    targets: Sequence[str],
    neighbours: np.ndarray,
    sims: np.ndarray,
    *,
    min_sim: float = 0.8,
    min_neighbours: int = 3,
    majority: float = 0.75,
    same: Any = None,
) -> list[NoisyExample]:
    """Examples whose target differs from a strong majority of their near neighbours, worst first.

    Args:
        targets: each training example's label or (normalised) output.
        neighbours: ``(n, k)`` indices of each example's nearest other examples.
        sims: the matching cosine similarities.
        min_sim: neighbours less similar than this are ignored.
        min_neighbours: at least this many near neighbours are needed to judge.
        majority: the majority target must hold at least this share of the near neighbours.
        same: optional ``same(a_index, b_index) -> bool`` deciding whether two targets agree (for free
            text); by default targets agree when equal.
    """
    out: list[NoisyExample] = []
    for i in range(len(targets)):
        near = [
            int(j) for j, s in zip(neighbours[i], sims[i], strict=True) if s >= min_sim and j != i and j >= 0
        ]
        if len(near) < min_neighbours:
            continue
        if same is None:
            counts = Counter(targets[j] for j in near)
            top, n_top = counts.most_common(1)[0]
            if top == targets[i] or n_top / len(near) < majority:
                continue
            members = [j for j in near if targets[j] == top]
        else:
            if sum(1 for j in near if same(i, j)) / len(near) > 1 - majority:
                continue
            # the majority "class" is the largest group of neighbours agreeing with the first one that disagrees
            groups = [[j for j in near if same(a, j)] for a in near]
            members = max(groups, key=len)
            if len(members) / len(near) < majority:
                continue
            top, n_top = targets[members[0]], len(members)
        share = n_top / len(near)
        score = share * float(
            np.mean([s for j, s in zip(neighbours[i], sims[i], strict=True) if int(j) in members])
        )
        out.append(
            NoisyExample(
                index=i, target=targets[i], majority=top, agreement=share, score=score, neighbours=members
            )
        )
    out.sort(key=lambda e: -e.score)
    return out


def output_disagreement(
    targets: Sequence[str],
    out_vecs: np.ndarray,
    neighbours: np.ndarray,
    sims: np.ndarray,
    *,
    min_sim: float = 0.8,
    min_neighbours: int = 3,
    majority: float = 0.75,
    margin: float = 0.1,
) -> list[NoisyExample]:
    """Free-text version of :func:`neighbour_disagreement`, on embeddings of the outputs.

    Near neighbours (similar inputs) whose outputs agree with each other set the bar: output ``i``
    disagrees with neighbour ``j`` when their similarity is more than ``margin`` below how similar
    ``j``'s output is to the other neighbours' on average. Flagged when it disagrees with at least
    ``majority`` of at least ``min_neighbours`` near neighbours. ``majority`` in the result is the
    neighbours' most typical output.
    """
    out: list[NoisyExample] = []
    for i in range(len(targets)):
        near = np.array(
            [
                int(j)
                for j, s in zip(neighbours[i], sims[i], strict=True)
                if s >= min_sim and j != i and j >= 0
            ],
            dtype=np.int64,
        )
        if len(near) < min_neighbours:
            continue
        nv = out_vecs[near]
        pair = nv @ nv.T
        typical = (pair.sum(axis=1) - np.diagonal(pair)) / (len(near) - 1)
        to_i = nv @ out_vecs[i]
        disagree = to_i < typical - margin
        share = float(disagree.mean())
        if share < majority:
            continue
        medoid = int(near[np.argmax(typical)])
        gap = float(np.mean(typical[disagree] - to_i[disagree]))
        out.append(
            NoisyExample(
                index=i,
                target=targets[i],
                majority=targets[medoid],
                agreement=share,
                score=share * min(1.0, gap / (2 * margin)),
                neighbours=[medoid] + [int(j) for j in near[disagree] if int(j) != medoid],
            )
        )
    out.sort(key=lambda e: -e.score)
    return out


def _load_column(path: Any, key: str) -> np.ndarray:
    """A ``.npy`` array, or the ``key`` field of each JSONL row (InputError naming file:line)."""
    import os

    from datamill.io import iter_jsonl

    path = os.fspath(path)
    if path.endswith(".npy"):
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read a numpy array: {exc}", path=path) from None
    out = []
    for line, _, row in iter_jsonl(path):
        if not isinstance(row, dict) or key not in row:
            raise InputError(f"row has no {key!r}", path=path, line=line)
        out.append(row[key])
    try:
        return np.asarray(out)
    except ValueError as exc:
        raise InputError(f"{key!r} values do not form an array: {exc}", path=path) from None


def load_label_arrays(labels: Any, probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Given labels and predicted probabilities from ``.npy`` files or JSONL (``label`` / ``probs`` fields)."""
    y = _load_column(labels, "label")
    p = _load_column(probs, "probs")
    if p.ndim != 2 or len(p) != len(y):
        raise InputError(
            f"probs must be an (n, K) array with n = {len(y)} labels, got shape {p.shape}", path=str(probs)
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise InputError("labels must be integers 0..K-1 (class indices)", path=str(labels))
    return y.astype(np.int64), p.astype(float)

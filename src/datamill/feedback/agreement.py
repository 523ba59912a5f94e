"""Inter-annotator agreement in pure numpy: Cohen's kappa, Fleiss' kappa, Krippendorff's alpha.

Reusable outside the web app (datamill.diagnose uses it). Conventions:

- ``cohen_kappa(a, b)``: two equal-length label sequences (any hashable labels; ``None`` pairs dropped).
- ``fleiss_kappa(table)``: a ``subjects x categories`` count table, the same number of raters per subject;
  :func:`fleiss_table` builds it from a ``units x raters`` label matrix.
- ``krippendorff_alpha(data, level=...)``: an ``observers x units`` matrix with ``nan``/``None`` for
  missing values; ``level`` is nominal, ordinal, interval or ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any, Literal

import numpy as np

__all__ = [
    "LEVELS",
    "cohen_kappa",
    "cohen_kappa_table",
    "fleiss_kappa",
    "fleiss_table",
    "krippendorff_alpha",
    "pairwise_cohen",
    "percent_agreement",
]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")


def cohen_kappa_table(table: Any) -> float:
    """Cohen's kappa from a ``k x k`` contingency table (rows rater 1, columns rater 2)."""
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise ValueError(f"a contingency table must be square, got shape {t.shape}")
    n = t.sum()
    if n == 0:
        return float("nan")
    po = np.trace(t) / n
    pe = float((t.sum(axis=1) * t.sum(axis=0)).sum()) / (n * n)
    if pe == 1.0:
        return 1.0 if po == 1.0 else float("nan")
    return float((po - pe) / (1.0 - pe))


def _codes(*seqs: Sequence[Any]) -> tuple[list[Any], list[np.ndarray]]:
    """Map labels of several sequences to shared integer codes (sorted when comparable)."""
    values = {v for s in seqs for v in s}
    try:
        cats = sorted(values)
    except TypeError:
        cats = sorted(values, key=repr)
    index = {v: i for i, v in enumerate(cats)}
    return cats, [np.array([index[v] for v in s], dtype=np.int64) for s in seqs]


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Cohen's kappa of two raters over the same items; items where either label is ``None`` are dropped."""
    if len(a) != len(b):
        raise ValueError(f"the two raters must label the same items: {len(a)} != {len(b)} labels")
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if not pairs:
        return float("nan")
    cats, (ca, cb) = _codes([p[0] for p in pairs], [p[1] for p in pairs])
    table = np.zeros((len(cats), len(cats)))
    np.add.at(table, (ca, cb), 1)
    return cohen_kappa_table(table)


def percent_agreement(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Share of items (both labelled) on which two raters give the same label."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return float(np.mean([x == y for x, y in pairs])) if pairs else float("nan")


def fleiss_table(ratings: Any) -> np.ndarray:
    """A ``subjects x categories`` count table from a ``units x raters`` label matrix (``None`` = missing)."""
    rows = [
        [v for v in row if v is not None and not (isinstance(v, float) and np.isnan(v))] for row in ratings
    ]
    cats, codes = _codes(*rows) if rows else ([], [])
    table = np.zeros((len(rows), len(cats)), dtype=np.int64)
    for i, c in enumerate(codes):
        np.add.at(table[i], c, 1)
    return table


def fleiss_kappa(table: Any) -> float:
    """Fleiss' kappa of a ``subjects x categories`` count table (every subject rated by the same n raters)."""
    t = np.asarray(table, dtype=float)
    if t.ndim != 2:
        raise ValueError(f"Fleiss' kappa needs a 2-D subjects x categories table, got shape {t.shape}")
    t = t[t.sum(axis=1) > 0]
    if t.size == 0:
        return float("nan")
    n_per = t.sum(axis=1)
    if not np.all(n_per == n_per[0]):
        raise ValueError(
            "Fleiss' kappa needs the same number of ratings per subject; "
            "use krippendorff_alpha for missing ratings"
        )
    n = n_per[0]
    if n < 2:
        return float("nan")
    n_sub = t.shape[0]
    p_j = t.sum(axis=0) / (n_sub * n)
    p_i = ((t * t).sum(axis=1) - n) / (n * (n - 1))
    p_bar = p_i.mean()
    pe = float((p_j * p_j).sum())
    if pe == 1.0:
        return 1.0 if p_bar == 1.0 else float("nan")
    return float((p_bar - pe) / (1.0 - pe))


def _delta2(values: np.ndarray, n_c: np.ndarray, level: str) -> np.ndarray:
    """Squared difference function of Krippendorff's alpha for each pair of values."""
    c = values[:, None]
    k = values[None, :]
    if level == "nominal":
        return (c != k).astype(float)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        s = c + k
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(s == 0, 0.0, ((c - k) / np.where(s == 0, 1, s)) ** 2)
        return d
    # ordinal: ranks of values, distances counted in pairable values between them
    cum = np.concatenate([[0.0], np.cumsum(n_c)])
    i = np.arange(len(values))
    lo = np.minimum(i[:, None], i[None, :])
    hi = np.maximum(i[:, None], i[None, :])
    between = cum[hi + 1] - cum[lo]
    return (between - (n_c[lo] + n_c[hi]) / 2.0) ** 2


def krippendorff_alpha(data: Any, *, level: Level | str = "nominal") -> float:
    """Krippendorff's alpha of an ``observers x units`` matrix; ``nan``/``None`` mark missing values.

    Args:
        data: reliability data, one row per observer, one column per unit; numeric values
            (nominal labels may be any numbers; map strings to codes first).
        level: metric of the values: nominal, ordinal, interval or ratio.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; allowed: {', '.join(LEVELS)}")
    arr = np.array([[np.nan if v is None else v for v in row] for row in data], dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"reliability data must be observers x units, got shape {arr.shape}")
    values = np.unique(arr[~np.isnan(arr)])
    if len(values) == 0:
        return float("nan")
    # counts[u, c]: how many observers gave value c to unit u
    counts = np.stack([(arr == v).sum(axis=0) for v in values], axis=1).astype(float)
    m_u = counts.sum(axis=1)
    pairable = m_u >= 2
    counts, m_u = counts[pairable], m_u[pairable]
    if counts.shape[0] == 0:
        return float("nan")
    w = counts / (m_u - 1)[:, None]
    coinc = counts.T @ w - np.diag(w.sum(axis=0))
    n_c = coinc.sum(axis=1)
    n = n_c.sum()
    d2 = _delta2(values, n_c, level)
    d_o = float((coinc * d2).sum()) / n
    d_e = float((np.outer(n_c, n_c) * d2).sum()) / (n * (n - 1))
    if d_e == 0:
        return 1.0 if d_o == 0 else float("nan")
    return 1.0 - d_o / d_e


def pairwise_cohen(labels: dict[str, dict[Any, Any]], *, min_items: int = 1) -> list[dict[str, Any]]:
    """Cohen's kappa for every pair of annotators over the items both labelled.

    Args:
        labels: ``{annotator: {item: label}}``.
        min_items: pairs sharing fewer items are left out.
    """
    out = []
    for a, b in combinations(sorted(labels), 2):
        shared = sorted(set(labels[a]) & set(labels[b]), key=repr)
        if len(shared) < min_items:
            continue
        la = [labels[a][i] for i in shared]
        lb = [labels[b][i] for i in shared]
        out.append(
            {
                "a": a,
                "b": b,
                "shared": len(shared),
                "kappa": cohen_kappa(la, lb),
                "agreement": percent_agreement(la, lb),
            }
        )
    return out

"""ROUGE-L as defined by Google's ``rouge_score`` (used by Self-Instruct), computed fast.

Tokens follow ``rouge_score.tokenize`` without stemming: lowercase, every run of characters other
than ``[a-z0-9]`` is a separator. ROUGE-L F1 = 2PR/(P+R) with P = LCS/len(prediction) and
R = LCS/len(target). The longest common subsequence uses the bit-parallel algorithm of Hyyrö
(2004) on Python integers: O(len(a) * len(b) / wordsize) instead of the O(n*m) table. Measured by
``benchmarks/synthetic_rouge.py`` on the Self-Instruct seed instructions: the same scores as
``rouge-score`` 0.1.2 (max difference 0), 7.5x its pairs/s, 25x faster for the pool filter below.

:class:`RougeIndex` answers "is this text within ``threshold`` of anything seen so far?" with an
exact bound first (LCS <= the multiset overlap of tokens) so most pool members are never aligned.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["RougeIndex", "lcs_length", "rouge_l", "rouge_tokens"]

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """``rouge_score`` tokens: lowercase alphanumeric runs."""
    return _NON_ALNUM.sub(" ", text.lower()).split()


def _masks(a: Sequence[str]) -> dict[str, int]:
    masks: dict[str, int] = {}
    for i, tok in enumerate(a):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    return masks


def _lcs_masks(masks: dict[str, int], m: int, b: Sequence[str]) -> int:
    if not m or not b:
        return 0
    full = (1 << m) - 1
    v = full
    for tok in b:
        u = v & masks.get(tok, 0)
        v = ((v + u) | (v - u)) & full
    return m - v.bit_count()


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences."""
    if len(a) < len(b):
        a, b = b, a
    return _lcs_masks(_masks(a), len(a), b)


def _f1(lcs: int, n_pred: int, n_ref: int) -> float:
    if not lcs:
        return 0.0
    p, r = lcs / n_pred, lcs / n_ref
    return 2 * p * r / (p + r)


def rouge_l(prediction: str | Sequence[str], target: str | Sequence[str]) -> float:
    """ROUGE-L F1 of ``prediction`` against ``target`` (strings are tokenised as ``rouge_score`` does)."""
    a = rouge_tokens(prediction) if isinstance(prediction, str) else list(prediction)
    b = rouge_tokens(target) if isinstance(target, str) else list(target)
    return _f1(lcs_length(a, b), len(a), len(b))


class RougeIndex:
    """A growing pool of texts; finds the highest ROUGE-L of a new text against the pool.

    Args:
        texts: the initial pool (e.g. the seed tasks).
    """

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._toks: list[list[str]] = []
        self._masks: list[dict[str, int]] = []
        self._counts: list[Counter[str]] = []
        self._postings: dict[str, list[int]] = {}
        for t in texts:
            self.add(t)

    def __len__(self) -> int:
        return len(self._toks)

    def add(self, text: str | Sequence[str]) -> None:
        toks = rouge_tokens(text) if isinstance(text, str) else list(text)
        i = len(self._toks)
        self._toks.append(toks)
        self._masks.append(_masks(toks))
        self._counts.append(Counter(toks))
        for tok in set(toks):
            self._postings.setdefault(tok, []).append(i)

    def max_score(self, text: str | Sequence[str], *, threshold: float | None = None) -> tuple[float, int]:
        """(best ROUGE-L F1, index of that pool member or -1). With ``threshold``, stops at the first above it."""
        toks = rouge_tokens(text) if isinstance(text, str) else list(text)
        if not toks:
            return 0.0, -1
        counts = Counter(toks)
        candidates: set[int] = set()
        for tok in counts:
            candidates.update(self._postings.get(tok, ()))
        best, best_i = 0.0, -1
        n = len(toks)
        for i in candidates:
            ref = self._counts[i]
            m = len(self._toks[i])
            bound = sum(min(c, ref[t]) for t, c in counts.items() if t in ref)
            if _f1(bound, n, m) <= best:
                continue
            score = _f1(_lcs_masks(self._masks[i], m, toks), n, m)
            if score > best:
                best, best_i = score, i
                if threshold is not None and best > threshold:
                    break
        return best, best_i

"""Word n-gram overlap with evaluation sets: the one decontamination index every stage uses.

Pre-training drops documents, fine-tuning drops examples and in-context retrieval flags index
chunks that share a long word n-gram (13 words, as in GPT-3 and most later reports) with an
evaluation text::

    >>> from datamill.decontam import NgramIndex
    >>> bank = NgramIndex(["What is the boiling point of water at sea level in degrees Celsius?"], n=8)
    >>> bank.overlap("Q: what is the boiling point of water at sea level in degrees Celsius? A: 100")
    6
    >>> bank.overlap("Water boils at 100 degrees.")
    0

Words are ``\\w+`` runs, lowercased; n-grams are hashed with xxh3-64.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

import xxhash

from datamill.errors import ConfigError

__all__ = ["NgramIndex", "ngram_hashes"]

_WORD = re.compile(r"\w+", re.UNICODE)


def _h(words: list[str]) -> int:
    return xxhash.xxh3_64_intdigest(" ".join(words).encode("utf-8", "surrogatepass"))


def ngram_hashes(text: str, n: int) -> set[int]:
    """Hashes of the distinct lowercased word ``n``-grams of ``text`` (empty below ``n`` words)."""
    words = _WORD.findall(text.lower())
    return {_h(words[i : i + n]) for i in range(len(words) - n + 1)}


class NgramIndex:
    """The word ``n``-grams of a set of evaluation texts; :meth:`overlap` counts those a text shares.

    Args:
        texts: evaluation texts to add now (more with :meth:`add`).
        n: n-gram length in words.
        short: what to do with evaluation texts shorter than ``n`` words: ``"whole"`` looks for the
            whole text inside candidates (a copied short question is still caught), ``"ignore"``
            skips it and counts it in :attr:`too_short`.
    """

    def __init__(
        self, texts: Iterable[str] = (), *, n: int = 13, short: Literal["whole", "ignore"] = "whole"
    ) -> None:
        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n!r}")
        if short not in ("whole", "ignore"):
            raise ConfigError(f"short must be 'whole' or 'ignore', got {short!r}")
        self.n, self.short = n, short
        self.grams: set[int] = set()
        self.short_lengths: set[int] = set()
        self.texts = 0
        self.too_short = 0
        for t in texts:
            self.add(t)

    def add(self, text: str) -> None:
        words = _WORD.findall(text.lower()) if text else []
        if not words:
            return
        self.texts += 1
        if len(words) >= self.n:
            self.grams.update(_h(words[i : i + self.n]) for i in range(len(words) - self.n + 1))
        elif self.short == "whole":
            self.grams.add(_h(words))
            self.short_lengths.add(len(words))
        else:
            self.too_short += 1

    def __len__(self) -> int:
        return len(self.grams)

    def overlap(self, text: str) -> int:
        """How many distinct n-grams (or whole short evaluation texts) of the index ``text`` contains."""
        if not self.grams:
            return 0
        words = _WORD.findall(text.lower())
        grams = {_h(words[i : i + self.n]) for i in range(len(words) - self.n + 1)}
        for k in self.short_lengths:
            grams.update(_h(words[j : j + k]) for j in range(len(words) - k + 1))
        return len(grams & self.grams)

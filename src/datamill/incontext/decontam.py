"""Flag index chunks that overlap an evaluation set, so retrieval does not leak test answers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from datamill.decontam import NgramIndex
from datamill.records import Document

__all__ = ["flag_contaminated"]


def flag_contaminated(
    chunks: Sequence[Document], eval_texts: Iterable[str], *, ngram: int = 13, min_overlap: int = 1
) -> dict[str, int]:
    """Chunk id -> number of word ``ngram``-grams it shares with the evaluation texts (only overlapping
    chunks). Evaluation texts shorter than ``ngram`` words are looked for whole."""
    bank = NgramIndex(eval_texts, n=ngram, short="whole")
    out: dict[str, int] = {}
    for c in chunks:
        n = bank.overlap(c.text)
        if n >= min_overlap:
            out[c.id] = n
    return out

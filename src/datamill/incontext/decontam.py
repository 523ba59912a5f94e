"""Flag index chunks that overlap an evaluation set, so retrieval does not leak test answers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from datamill.finetune.curate import _h, _ngrams
from datamill.records import Document

__all__ = ["flag_contaminated"]


def flag_contaminated(chunks: Sequence[Document], eval_texts: Iterable[str], *, ngram: int = 13,
                      min_overlap: int = 1) -> dict[str, int]:
    """Chunk id -> number of word ``ngram``-grams it shares with the evaluation texts (only overlapping
    chunks). Evaluation texts shorter than ``ngram`` words are looked for whole."""
    import re

    word = re.compile(r"\w+", re.UNICODE)
    bank: set[int] = set()
    short: set[int] = set()
    for t in eval_texts:
        toks = word.findall(t.lower())
        if len(toks) >= ngram:
            bank |= _ngrams(t, ngram)
        elif toks:
            bank.add(_h(toks))
            short.add(len(toks))
    out: dict[str, int] = {}
    for c in chunks:
        grams = _ngrams(c.text, ngram)
        if short:
            toks = word.findall(c.text.lower())
            grams |= {_h(toks[j:j + k]) for k in short for j in range(len(toks) - k + 1)}
        n = len(grams & bank)
        if n >= min_overlap:
            out[c.id] = n
    return out

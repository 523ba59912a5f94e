"""Decontamination: drop or flag documents sharing a long n-gram (13 words by default) with eval sets."""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np

from datamill.decontam import NgramIndex
from datamill.decontam import ngram_hashes as _ngram_set
from datamill.errors import ConfigError, InputError
from datamill.pipeline.step import Filter
from datamill.records import Document

__all__ = ["Decontaminate", "ngram_hashes"]


def ngram_hashes(text: str, n: int) -> np.ndarray:
    """64-bit hashes of the distinct lowercased word n-grams of ``text`` (empty below n words)."""
    grams = _ngram_set(text, n)
    return np.fromiter(grams, dtype=np.uint64, count=len(grams))


def _eval_texts(path: str, fields: list[str] | None) -> list[str]:
    """Every string field (or ``fields``) of the rows of a JSONL/Parquet file or a saved HF dataset."""
    rows: Any
    if os.path.isdir(path):
        from datamill.io.hf import iter_hf

        rows = (row for _, row in iter_hf(path))
    elif path.endswith(".parquet"):
        from datamill.io.parquet import iter_parquet

        rows = (row for _, row in iter_parquet(path))
    elif os.path.isfile(path):
        from datamill.io.jsonl import iter_jsonl

        rows = (obj for _, _, obj in iter_jsonl(path))
    else:
        raise InputError("no such evaluation set (JSONL, Parquet or saved HF dataset folder)", path=path)
    out = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        for key, v in row.items():
            if (fields is None or key in fields) and isinstance(v, str):
                out.append(v)
            elif (fields is None or key in fields) and isinstance(v, list):
                out.extend(str(x.get("content", x)) if isinstance(x, dict) else str(x) for x in v)
    return out


class Decontaminate(Filter[Document]):
    """Drop (or with ``action="flag"`` mark) documents sharing an ``n``-word n-gram with an eval set.

    Args:
        eval_sets: JSONL / Parquet files or saved HF dataset folders; every string field is an
            evaluation text unless ``fields`` names them.
        n: n-gram length in words (13, as GPT-3 and most later reports).
        action: ``"drop"`` or ``"flag"`` (sets ``metadata["contaminated"] = True`` and keeps it).

    Drop reason: ``contaminated``. Eval texts shorter than ``n`` words cannot match and are counted
    as ``eval_texts_too_short``.
    """

    name = "pretrain.decontaminate"

    def __init__(
        self,
        *,
        eval_sets: list[str],
        n: int = 13,
        action: Literal["drop", "flag"] = "drop",
        fields: list[str] | None = None,
    ) -> None:
        if not eval_sets:
            raise ConfigError("decontamination needs at least one evaluation set")
        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n!r}", params="n")
        if action not in ("drop", "flag"):
            raise ConfigError(f"action must be 'drop' or 'flag', got {action!r}", params="action")
        self.eval_sets, self.n, self.action, self.fields = list(eval_sets), n, action, fields
        self._bank: NgramIndex | None = None

    def _load(self) -> NgramIndex:
        bank = NgramIndex(n=self.n, short="ignore")
        for path in self.eval_sets:
            for text in _eval_texts(path, self.fields):
                bank.add(text)
        self.stats.counters["eval_texts_too_short"] += bank.too_short
        self.stats.counters["eval_ngrams"] = len(bank)
        return bank

    def keep(self, rec: Document) -> bool | str:
        if self._bank is None:
            self._bank = self._load()
        hits = self._bank.overlap(rec.text)
        if not hits:
            return True
        self.stats.counters["contaminated_ngrams"] += hits
        if self.action == "flag":
            rec.metadata["contaminated"] = True
            rec.metadata["contaminated_ngrams"] = hits
            return True
        return "contaminated"

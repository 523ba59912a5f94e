"""``filter.word_list``: drop (or flag) documents that use words from your lists, counted per category.

A list is a text file, one word or phrase per line (``#`` comments), or a CSV with ``word,category``
rows; its categories are the file's name unless a row names one. Matching is on whole lowercased words
(a phrase matches its words in order). A document is dropped when it holds at least ``min_matches``
listed words, or when they are at least ``max_ratio`` of its words (the C4 "bad words" rule is
``min_matches=1``); the drop reason is ``word_list:<category>`` of its most frequent category, and every
category seen is counted in the step's counters (``category:<name>`` documents, ``words:<name>`` hits),
kept documents included. ``action="flag"`` keeps everything and writes ``metadata["word_list"]``.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from typing import Any

from datamill.errors import ConfigError
from datamill.pipeline.step import Filter
from datamill.pipeline.steps import record_text
from datamill.records import Record

__all__ = ["WordListFilter", "load_word_lists"]

_WORD = re.compile(r"\w+(?:['’]\w+)?")


def load_word_lists(paths: list[str]) -> dict[tuple[str, ...], str]:
    """``{words of a listed word or phrase: category}`` from text or CSV files."""
    out: dict[tuple[str, ...], str] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read word list: {exc.strerror}", params="paths") from None
        default = os.path.splitext(os.path.basename(path))[0]
        rows: Any
        if path.endswith(".csv"):
            rows = (
                (r[0], r[1] if len(r) > 1 and r[1].strip() else default)
                for r in csv.reader(io.StringIO(text))
                if r
            )
        else:
            rows = ((line.split("#", 1)[0], default) for line in text.splitlines())
        for word, category in rows:
            key = tuple(_WORD.findall(word.lower()))
            if key:
                out[key] = category.strip()
    return out


class WordListFilter(Filter[Record]):
    """Drop documents using listed words; count hits per category (see the module docstring).

    Args:
        paths: word list files (text: one entry a line; CSV: ``word,category``).
        min_matches: listed words that drop a document (with ``max_ratio`` None).
        max_ratio: or drop when listed words are at least this share of the document's words.
        action: ``"drop"`` or ``"flag"`` (keep, and write ``metadata["word_list"]``).
        field: the text field.
    """

    name = "filter.word_list"

    def __init__(
        self,
        *,
        paths: list[str],
        min_matches: int = 1,
        max_ratio: float | None = None,
        action: str = "drop",
        field: str = "text",
    ) -> None:
        if not paths:
            raise ConfigError("paths needs at least one word list file", params="paths")
        if min_matches < 1:
            raise ConfigError(f"min_matches must be >= 1, got {min_matches!r}", params="min_matches")
        if max_ratio is not None and not 0 < max_ratio <= 1:
            raise ConfigError(f"max_ratio must be in (0, 1], got {max_ratio!r}", params="max_ratio")
        if action not in ("drop", "flag"):
            raise ConfigError(f"action must be drop or flag, got {action!r}", params="action")
        self.paths, self.min_matches, self.max_ratio = list(paths), min_matches, max_ratio
        self.action, self.field = action, field
        self._lists: dict[tuple[str, ...], str] | None = None
        self._longest = 1

    def _load(self) -> dict[tuple[str, ...], str]:
        if self._lists is None:
            self._lists = load_word_lists(self.paths)
            self._longest = max((len(k) for k in self._lists), default=1)
        return self._lists

    def hits(self, text: str) -> tuple[Counter[str], int]:
        """(hits per category, words in the text)."""
        lists = self._load()
        words = _WORD.findall(text.lower())
        found: Counter[str] = Counter()
        for i in range(len(words)):
            for n in range(1, min(self._longest, len(words) - i) + 1):
                cat = lists.get(tuple(words[i : i + n]))
                if cat is not None:
                    found[cat] += 1
        return found, len(words)

    def keep(self, rec: Record) -> bool | str:
        found, n = self.hits(record_text(rec, self.field))
        if not found:
            return True
        counters = self.stats.counters
        for cat, k in found.items():
            counters[f"category:{cat}"] += 1
            counters[f"words:{cat}"] += k
        total = sum(found.values())
        bad = total / max(n, 1) >= self.max_ratio if self.max_ratio is not None else total >= self.min_matches
        if self.action == "flag":
            rec.metadata["word_list"] = dict(found)
            return True
        return f"word_list:{found.most_common(1)[0][0]}" if bad else True

"""Heuristic quality filters with the published default thresholds, one drop reason per rule.

* :class:`GopherQualityFilter` - Rae et al. 2021 (MassiveText), appendix A.1.1.
* :class:`GopherRepetitionFilter` - the same paper, table A1 (repetition removal).
* :class:`C4QualityFilter` - Raffel et al. 2020 (C4): line-level cleaning plus document rules.
* :class:`FineWebQualityFilter` - Penedo et al. 2024 (FineWeb), section 3.4 custom filters.
* :class:`UrlFilter` - a URL blocklist hook (domains, URL substrings, or your own function), in
  :mod:`datamill.pretrain.urlfilter`.

Rules are applied in the papers' order and the first failing rule names the drop reason (as in
datatrove, so decisions compare one to one). Words are split like spaCy's English tokenizer
(:func:`~datamill.pretrain.words.split_words`), without the dependency.
"""

from __future__ import annotations

import re
from collections import Counter

from datamill.errors import ConfigError
from datamill.pipeline.step import Filter
from datamill.pretrain.urlfilter import UrlFilter
from datamill.pretrain.words import (
    PUNCTUATION,
    STOP_WORDS,
    TERMINAL_PUNCTUATION,
    count_sentences,
    split_words,
)
from datamill.records import Document

__all__ = [
    "C4QualityFilter",
    "FineWebQualityFilter",
    "GopherQualityFilter",
    "GopherRepetitionFilter",
    "UrlFilter",
    "split_words",
]

C4_END_PUNCTUATION = (".", "?", "!", '"', "'")
C4_POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")


def _check_ratio(**values: float) -> None:
    for key, v in values.items():
        if v is not None and not 0 <= v <= 1:
            raise ConfigError(f"{key} must be between 0 and 1, got {v!r}")


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of repeated items, characters in the repeats), counting every copy after the first."""
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars


class GopherQualityFilter(Filter[Document]):
    """Gopher quality rules: word count, mean word length, symbol ratios, bullets, ellipses, alphabetic
    words, stop words.

    Drop reasons: ``gopher_short_doc``, ``gopher_long_doc``, ``gopher_below_avg_threshold``,
    ``gopher_above_avg_threshold``, ``gopher_too_many_hashes``, ``gopher_too_many_ellipsis``,
    ``gopher_too_many_bullets``, ``gopher_too_many_end_ellipsis``, ``gopher_below_alpha_threshold``,
    ``gopher_enough_stop_words``.
    """

    name = "pretrain.gopher_quality"

    def __init__(
        self,
        *,
        min_doc_words: int = 50,
        max_doc_words: int = 100_000,
        min_avg_word_length: float = 3,
        max_avg_word_length: float = 10,
        max_symbol_word_ratio: float = 0.1,
        max_bullet_lines_ratio: float = 0.9,
        max_ellipsis_lines_ratio: float = 0.3,
        min_alpha_words_ratio: float = 0.8,
        min_stop_words: int = 2,
        stop_words: list[str] | None = None,
    ) -> None:
        _check_ratio(
            max_bullet_lines_ratio=max_bullet_lines_ratio,
            max_ellipsis_lines_ratio=max_ellipsis_lines_ratio,
            min_alpha_words_ratio=min_alpha_words_ratio,
        )
        if min_doc_words < 0 or max_doc_words < min_doc_words:
            raise ConfigError(
                f"need 0 <= min_doc_words <= max_doc_words, got {min_doc_words!r}, {max_doc_words!r}"
            )
        self.min_doc_words, self.max_doc_words = min_doc_words, max_doc_words
        self.min_avg, self.max_avg = min_avg_word_length, max_avg_word_length
        self.max_symbol = max_symbol_word_ratio
        self.max_bullets, self.max_end_ellipsis = max_bullet_lines_ratio, max_ellipsis_lines_ratio
        self.min_alpha, self.min_stop = min_alpha_words_ratio, min_stop_words
        self.stop_words = frozenset(stop_words if stop_words is not None else STOP_WORDS)

    def keep(self, rec: Document) -> bool | str:
        text = rec.text
        words = split_words(text)
        n = len(words)
        content = [w for w in words if any(ch not in PUNCTUATION for ch in w)]
        if len(content) < self.min_doc_words or n == 0:
            return "gopher_short_doc"
        if len(content) > self.max_doc_words:
            return "gopher_long_doc"
        avg = sum(map(len, content)) / len(content)
        if avg < self.min_avg:
            return "gopher_below_avg_threshold"
        if avg > self.max_avg:
            return "gopher_above_avg_threshold"
        if text.count("#") / n > self.max_symbol:
            return "gopher_too_many_hashes"
        if (text.count("...") + text.count("…")) / n > self.max_symbol:
            return "gopher_too_many_ellipsis"
        lines = text.splitlines() or [""]
        if sum(ln.lstrip().startswith(("•", "-")) for ln in lines) / len(lines) > self.max_bullets:
            return "gopher_too_many_bullets"
        if sum(ln.rstrip().endswith(("...", "…")) for ln in lines) / len(lines) > self.max_end_ellipsis:
            return "gopher_too_many_end_ellipsis"
        if sum(any(c.isalpha() for c in w) for w in words) / n < self.min_alpha:
            return "gopher_below_alpha_threshold"
        if len(self.stop_words.intersection(words)) < self.min_stop:
            return "gopher_enough_stop_words"
        return True


_DEFAULT_TOP = ((2, 0.2), (3, 0.18), (4, 0.16))
_DEFAULT_DUP = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))


class GopherRepetitionFilter(Filter[Document]):
    """Gopher repetition rules: duplicate lines/paragraphs (by count and by characters), the most
    frequent 2-4-gram's character share, and the character share of repeated 5-10-grams.

    Drop reasons: ``dup_para_frac``, ``dup_para_char_frac``, ``dup_line_frac``,
    ``dup_line_char_frac``, ``top_{n}_gram``, ``duplicated_{n}_n_grams``.
    """

    name = "pretrain.gopher_repetition"

    def __init__(
        self,
        *,
        dup_line_frac: float = 0.3,
        dup_para_frac: float = 0.3,
        dup_line_char_frac: float = 0.2,
        dup_para_char_frac: float = 0.2,
        top_n_grams: list[list[float]] | None = None,
        dup_n_grams: list[list[float]] | None = None,
    ) -> None:
        _check_ratio(
            dup_line_frac=dup_line_frac,
            dup_para_frac=dup_para_frac,
            dup_line_char_frac=dup_line_char_frac,
            dup_para_char_frac=dup_para_char_frac,
        )
        self.dup_line_frac, self.dup_para_frac = dup_line_frac, dup_para_frac
        self.dup_line_char_frac, self.dup_para_char_frac = dup_line_char_frac, dup_para_char_frac
        self.top = [(int(n), float(f)) for n, f in (_DEFAULT_TOP if top_n_grams is None else top_n_grams)]
        self.dup = [(int(n), float(f)) for n, f in (_DEFAULT_DUP if dup_n_grams is None else dup_n_grams)]

    def keep(self, rec: Document) -> bool | str:
        text = rec.text
        if not text:
            return "dup_para_frac"
        paragraphs = re.split(r"\n{2,}", text.strip())
        n, chars = find_duplicates(paragraphs)
        if n / len(paragraphs) > self.dup_para_frac:
            return "dup_para_frac"
        if chars / len(text) > self.dup_para_char_frac:
            return "dup_para_char_frac"
        lines = re.split(r"\n+", text)
        n, chars = find_duplicates(lines)
        if n / len(lines) > self.dup_line_frac:
            return "dup_line_frac"
        if chars / len(text) > self.dup_line_char_frac:
            return "dup_line_char_frac"
        words = split_words(text)
        for k, frac in self.top:
            grams = [" ".join(words[i : i + k]) for i in range(len(words) - k + 1)]
            if grams:
                gram, count = Counter(grams).most_common(1)[0]
                if len(gram) * count / len(text) > frac:
                    return f"top_{k}_gram"
        for k, frac in self.dup:
            if _repeated_ngram_chars(words, k) / len(text) > frac:
                return f"duplicated_{k}_n_grams"
        return True


def _repeated_ngram_chars(words: list[str], n: int) -> int:
    """Characters in n-grams seen before (a repeat skips its n words, so overlaps count once)."""
    grams = list(map("".join, zip(*(words[k:] for k in range(n)), strict=False)))
    if len(set(grams)) == len(grams):  # no n-gram repeats: skip the walk (most documents)
        return 0
    seen: set[str] = set()
    chars = i = 0
    while i < len(grams):
        gram = grams[i]
        if gram in seen:
            chars += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


class C4QualityFilter(Filter[Document]):
    """C4 cleaning: drop lines without terminal punctuation, with fewer than 3 words, mentioning
    javascript or a policy, or holding a word over 1000 characters; remove citation marks; drop the
    document on "lorem ipsum", a curly brace, or fewer than 5 sentences left. Kept lines replace the
    text.

    Drop reasons: ``lorem_ipsum``, ``curly_bracket``, ``too_few_sentences``; removed lines are
    counted in the step's counters (``line_no_terminal_punct``, ``line_too_few_words``, ...).
    """

    name = "pretrain.c4_quality"

    def __init__(
        self,
        *,
        remove_citations: bool = True,
        filter_no_terminal_punct: bool = True,
        min_num_sentences: int = 5,
        min_words_per_line: int = 3,
        max_word_length: int = 1000,
        filter_lorem_ipsum: bool = True,
        filter_javascript: bool = True,
        filter_curly_bracket: bool = True,
        filter_policy: bool = True,
    ) -> None:
        self.remove_citations, self.terminal = remove_citations, filter_no_terminal_punct
        self.min_sentences, self.min_words = min_num_sentences, min_words_per_line
        self.max_word_length = max_word_length
        self.lorem, self.js, self.curly, self.policy = (
            filter_lorem_ipsum,
            filter_javascript,
            filter_curly_bracket,
            filter_policy,
        )

    def keep(self, rec: Document) -> bool | str:
        counters = self.stats.counters
        sentences = 0
        kept: list[str] = []
        for line in rec.text.splitlines():
            line = line.strip()
            words = line.split()
            if self.max_word_length != -1 and any(len(w) > self.max_word_length for w in words):
                counters["line_too_long_word"] += 1
                continue
            if self.remove_citations:
                line = _CITATION.sub("", line)
            if self.terminal and (not line.endswith(C4_END_PUNCTUATION) or line.endswith("...")):
                counters["line_no_terminal_punct"] += 1
                continue
            if len(words) < self.min_words:
                counters["line_too_few_words"] += 1
                continue
            low = line.lower()
            if self.lorem and "lorem ipsum" in low:
                return "lorem_ipsum"
            if self.js and "javascript" in low:
                counters["line_javascript"] += 1
                continue
            if self.curly and "{" in line:
                return "curly_bracket"
            if self.policy and any(p in low for p in C4_POLICY):
                counters["line_policy"] += 1
                continue
            if sentences < self.min_sentences:  # counting past the minimum changes nothing
                sentences += count_sentences(line)
            kept.append(line)
        if sentences < self.min_sentences:
            return "too_few_sentences"
        rec.text = "\n".join(kept).strip()
        return True


class FineWebQualityFilter(Filter[Document]):
    """FineWeb's extra filters: share of lines ending in punctuation, share of short lines, characters
    in duplicated lines, and newlines per word (list-like pages).

    Drop reasons: ``empty``, ``line_punct_ratio``, ``short_line_ratio``, ``char_dup_ratio``, ``list_ratio``.
    """

    name = "pretrain.fineweb_quality"

    def __init__(
        self,
        *,
        line_punct_thr: float = 0.12,
        line_punct_exclude_zero: bool = False,
        short_line_thr: float = 0.67,
        short_line_length: int = 30,
        char_duplicates_ratio: float = 0.01,
        new_line_ratio: float = 0.3,
    ) -> None:
        _check_ratio(
            line_punct_thr=line_punct_thr,
            short_line_thr=short_line_thr,
            char_duplicates_ratio=char_duplicates_ratio,
        )
        self.line_punct_thr, self.exclude_zero = line_punct_thr, line_punct_exclude_zero
        self.short_line_thr, self.short_line_length = short_line_thr, short_line_length
        self.char_dup, self.new_line_ratio = char_duplicates_ratio, new_line_ratio

    def keep(self, rec: Document) -> bool | str:
        text = rec.text
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if not lines:
            return "empty"
        ratio = sum(ln.endswith(TERMINAL_PUNCTUATION) for ln in lines) / len(lines)
        if ratio < self.line_punct_thr and not (ratio == 0 and self.exclude_zero):
            return "line_punct_ratio"
        if sum(len(ln) <= self.short_line_length for ln in lines) / len(lines) > self.short_line_thr:
            return "short_line_ratio"
        if find_duplicates(lines)[1] / len(text.replace("\n", "")) > self.char_dup:
            return "char_dup_ratio"
        words = split_words(text)
        if not words or text.count("\n") / len(words) > self.new_line_ratio:
            return "list_ratio"
        return True

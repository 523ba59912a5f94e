"""Filters for generated data: near-duplicates, ROUGE-L novelty, language, refusals/boilerplate, judge score.

Exact dedup and length limits are the core ``dedup.exact`` and ``filter.length`` steps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import ConfigError
from datamill.pipeline.step import Filter, Step
from datamill.pipeline.steps import record_text
from datamill.records import Record
from datamill.synthetic.rouge import RougeIndex

__all__ = ["JudgeScoreFilter", "LanguageFilter", "NearDedup", "RefusalFilter", "RougeNovelty", "is_refusal"]


class NearDedup(Step[Record]):
    """Drop near-duplicates (MinHash LSH on word n-grams, estimated Jaccard >= ``threshold``), keeping the first.

    Works on one stream in memory (generated sets are small next to pre-training corpora).
    """

    name = "synthetic.near_dedup"

    def __init__(
        self, *, field: str = "auto", threshold: float = 0.8, ngram: int = 3, num_perm: int = 128
    ) -> None:
        if not 0 < threshold <= 1:
            raise ConfigError(f"threshold must be within (0, 1], got {threshold!r}")
        self.field, self.threshold, self.ngram, self.num_perm = field, threshold, ngram, num_perm

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        from datamill.minhash import near_duplicate_clusters

        st = self.stats
        recs = list(records)
        st.seen += len(recs)
        texts = [_text(r, self.field) for r in recs]
        clusters = (
            near_duplicate_clusters(texts, threshold=self.threshold, ngram=self.ngram, num_perm=self.num_perm)
            if recs
            else []
        )
        for i, (rec, cid) in enumerate(zip(recs, clusters, strict=True)):
            if cid != i:
                st.drop("near_duplicate", rec)
            else:
                st.kept += 1
                yield rec


def _text(rec: Record, field: str) -> str:
    if field != "auto":
        return record_text(rec, field)
    for name in ("input", "text"):
        v = getattr(rec, name, None)
        if isinstance(v, str):
            return v
    return record_text(rec, "text")


class RougeNovelty(Filter[Record]):
    """Drop a record whose ROUGE-L F1 against any earlier kept record (or ``reference`` text) exceeds ``threshold``."""

    name = "synthetic.rouge_novelty"

    def __init__(
        self, *, field: str = "auto", threshold: float = 0.7, reference: list[str] | None = None
    ) -> None:
        if not 0 < threshold <= 1:
            raise ConfigError(f"threshold must be within (0, 1], got {threshold!r}")
        self.field, self.threshold = field, threshold
        self._pool = RougeIndex(reference or [])

    def keep(self, rec: Record) -> bool | str:
        text = _text(rec, self.field)
        score, _ = self._pool.max_score(text, threshold=self.threshold)
        if score > self.threshold:
            return "rouge_similar"
        self._pool.add(text)
        return True


_REFUSAL = re.compile(
    r"\b(as an ai(?: language)? model|as a large language model|i(?:'m| am) (?:sorry|unable|not able)|"
    r"i can(?:not|'t) (?:help|assist|provide|comply|do that|fulfil|fulfill)|i apologi[sz]e|"
    r"i(?:'m| am) just an ai|i do not have (?:personal|the ability)|my (?:knowledge )?cutoff)\b",
    re.IGNORECASE,
)
_BOILERPLATE = re.compile(
    r"^(?:certainly|sure|of course|absolutely)[!,.]? (?:here(?:'s| is| are))|\bi hope this helps\b|"
    r"\bfeel free to ask\b|\blet me know if you (?:have|need)\b",
    re.IGNORECASE,
)


def is_refusal(text: str) -> str | None:
    """'refusal' or 'boilerplate' if ``text`` looks like one, else None."""
    if _REFUSAL.search(text):
        return "refusal"
    if _BOILERPLATE.search(text.strip()):
        return "boilerplate"
    return None


class RefusalFilter(Filter[Record]):
    """Drop answers that refuse ("As an AI language model...", "I'm sorry, but I can't...") or are padded
    with chat boilerplate ("Certainly! Here is...", "I hope this helps"); ``boilerplate=False`` keeps the latter."""

    name = "synthetic.refusal"

    def __init__(self, *, field: str = "output", boilerplate: bool = True) -> None:
        self.field, self.boilerplate = field, boilerplate

    def keep(self, rec: Record) -> bool | str:
        value = getattr(rec, self.field, None)
        if value is None and getattr(rec, "messages", None):
            value = rec.messages[-1].content  # type: ignore[attr-defined]
        reason = is_refusal(str(value or ""))
        if reason == "boilerplate" and not self.boilerplate:
            return True
        return reason or True


_COMMON = (
    "en",
    "fr",
    "de",
    "es",
    "it",
    "pt",
    "nl",
    "ru",
    "zh",
    "ja",
    "ko",
    "ar",
    "hi",
    "tr",
    "pl",
    "sv",
    "uk",
    "vi",
    "id",
    "cs",
    "el",
    "he",
    "fa",
    "da",
    "fi",
    "no",
    "ro",
    "hu",
)


class LanguageFilter(Filter[Record]):
    """Keep records whose text is in one of ``languages`` (ISO 639-1; lingua, offline).

    The detector chooses among ``languages`` and 28 common languages; ``low_accuracy=False`` uses lingua's
    full models (better on very short texts, slower to load).
    """

    name = "synthetic.language"

    def __init__(
        self,
        *,
        languages: list[str] | None = None,
        field: str = "auto",
        min_score: float = 0.5,
        low_accuracy: bool = True,
    ) -> None:
        self.languages = [x.lower() for x in (languages or ["en"])]
        self.low_accuracy = low_accuracy
        self.field, self.min_score = field, min_score
        self._detector: Any = None

    def keep(self, rec: Record) -> bool | str:
        if self._detector is None:
            from datamill.errors import require

            lingua = require(
                "lingua", extra="synthetic", purpose="language filtering", package="lingua-language-detector"
            )
            # the common languages plus the wanted ones: loading every model of lingua takes ~30 s
            codes = {c.upper() for c in [*self.languages, *_COMMON]}
            langs = [
                lingua.IsoCode639_1.from_str(c) for c in sorted(codes) if hasattr(lingua.IsoCode639_1, c)
            ]
            builder = lingua.LanguageDetectorBuilder.from_iso_codes_639_1(*langs)
            # lingua's low-accuracy mode (trigrams only) loads in ~1 s instead of ~15 s; fine past a sentence
            self._detector = (builder.with_low_accuracy_mode() if self.low_accuracy else builder).build()
        text = _text(rec, self.field)
        conf = self._detector.compute_language_confidence_values(text)
        if not conf:
            return "language_unknown"
        top = conf[0]
        code = top.language.iso_code_639_1.name.lower()
        if code not in self.languages:
            return f"language_{code}"
        return True if top.value >= self.min_score else "language_uncertain"


class JudgeScoreFilter(Filter[Record]):
    """Keep records whose ``metadata[key]`` (a judge or critique score) is at least ``min_score``."""

    name = "synthetic.judge_score"

    def __init__(self, *, min_score: float = 7.0, key: str = "judge_score") -> None:
        self.min_score, self.key = min_score, key

    def keep(self, rec: Record) -> bool | str:
        value = rec.metadata.get(self.key)
        if not isinstance(value, int | float):
            return "no_score"
        return True if value >= self.min_score else "low_score"

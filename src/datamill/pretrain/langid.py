"""Language identification with lingua (offline models shipped in the wheel)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from datamill.errors import ConfigError, require
from datamill.pipeline.step import Filter
from datamill.records import Document

__all__ = ["LanguageFilter", "detect_language"]

_MAX_CHARS = 2000


@lru_cache(maxsize=4)
def _detector(languages: tuple[str, ...] | None, low_accuracy: bool) -> Any:
    lingua = require("lingua", extra="pretrain", purpose="language identification",
                     package="lingua-language-detector")
    if languages:
        try:
            codes = [getattr(lingua.IsoCode639_1, c.upper()) for c in languages]
        except AttributeError as exc:
            raise ConfigError(f"unknown ISO 639-1 language code in {list(languages)!r}: {exc}") from None
        builder = lingua.LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
    else:
        builder = lingua.LanguageDetectorBuilder.from_all_languages()
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    return builder.build()


def detect_language(text: str, *, candidates: list[str] | None = None, low_accuracy: bool = True) -> tuple[str, float]:
    """(ISO 639-1 code or ``"unknown"``, confidence 0-1) for the first 2,000 characters of ``text``."""
    det = _detector(tuple(sorted(candidates)) if candidates else None, low_accuracy)
    values = det.compute_language_confidence_values(text[:_MAX_CHARS])
    if not values or values[0].value <= 0:
        return "unknown", 0.0
    top = values[0]
    return top.language.iso_code_639_1.name.lower(), float(top.value)


class LanguageFilter(Filter[Document]):
    """Label each document's language and keep those in ``languages`` with a score >= ``min_score``.

    Writes ``metadata["language"]`` and ``metadata["language_score"]``; counts languages in the step
    counters (``lang_xx``). ``languages=None`` labels without filtering. ``candidates`` limits the
    detector to those languages (faster; default all 75 lingua languages). FineWeb keeps English at
    a fastText score >= 0.65, the default here. Drop reasons: ``wrong_language``, ``low_language_score``.
    """

    name = "pretrain.langid"

    def __init__(self, *, languages: list[str] | None = None, min_score: float = 0.65,
                 candidates: list[str] | None = None, low_accuracy: bool = True) -> None:
        if not 0 <= min_score <= 1:
            raise ConfigError(f"min_score must be between 0 and 1, got {min_score!r}")
        self.languages = {c.lower() for c in languages} if languages else None
        self.min_score, self.candidates, self.low_accuracy = min_score, candidates, low_accuracy

    def keep(self, rec: Document) -> bool | str:
        lang, score = detect_language(rec.text, candidates=self.candidates, low_accuracy=self.low_accuracy)
        rec.metadata["language"] = lang
        rec.metadata["language_score"] = round(score, 4)
        self.stats.counters[f"lang_{lang}"] += 1
        if self.languages is None:
            return True
        if lang not in self.languages:
            return "wrong_language"
        if score < self.min_score:
            return "low_language_score"
        return True

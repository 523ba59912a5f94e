"""The ``non_english`` rule of :func:`datamill.finetune.clean`: examples not in the wanted languages (lingua)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from datamill.errors import ConfigError

__all__ = ["check_languages", "non_english"]

_ASKS_LANGUAGE = re.compile(r"translat|language|dialect|idiom|countr(y|ies)|cuisine|dish", re.I)
_EN_FUNCTION_WORDS = frozenset(
    "the and of to a in is for on with that it as are was this be by or from at".split()
)


def _english_words(text: str) -> float:
    """Share of words that are common English function words (foreign names in an English list keep it high)."""
    words = re.findall(r"[a-zA-Z']+", text.lower())
    return sum(w in _EN_FUNCTION_WORDS for w in words) / len(words) if words else 0.0


def _lingua():  # noqa: ANN202
    from datamill.errors import require

    return require(
        "lingua", extra="pretrain", purpose="language filtering", package="lingua-language-detector"
    )


def _languages(wanted: Sequence[str]):  # noqa: ANN202
    lingua = _lingua()
    detector = lingua.LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()
    codes = {c.lower() for c in wanted}
    return detector, codes


def check_languages(wanted: Sequence[str]) -> None:
    """Raise a ConfigError naming the codes in ``wanted`` that the language detector does not know."""
    known = sorted(lang.iso_code_639_1.name.lower() for lang in _lingua().Language.all())
    unknown = sorted({c.lower() for c in wanted} - set(known))
    if unknown:
        raise ConfigError(
            f"languages names codes the language detector does not know: {unknown}; "
            f"known ISO 639-1 codes: {', '.join(known)}",
            params="languages",
        )


def non_english(pairs: list[tuple[str, str]], languages: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(index, reason) of each (instruction, output) pair in none of ``languages`` (ISO 639-1 codes)."""
    detector, codes = _languages(languages)

    def foreign(text: str, min_conf: float, min_alpha: int):  # noqa: ANN202
        if sum(c.isalpha() for c in text) < min_alpha:
            return None
        top = detector.compute_language_confidence_values(text)
        if top and top[0].value >= min_conf and top[0].language.iso_code_639_1.name.lower() not in codes:
            return top[0].language.name.title()
        return None

    for i, (ins, out) in enumerate(pairs):
        # the whole example is in another language, or the answer is when nobody asked for it
        lang = foreign(ins, 0.5, 20) and foreign(out, 0.5, 20)
        if (
            not lang
            and not _ASKS_LANGUAGE.search(ins)
            and not ("en" in codes and _english_words(out) >= 0.05)
        ):
            lang = foreign(out, 0.95, 60)
        if lang:
            yield i, f"detected {lang}"

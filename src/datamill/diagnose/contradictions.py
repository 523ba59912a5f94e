"""Contradictions in the prompt context: statements about the same thing that cannot both be true.

Rules (no model needed): two sentences that say the same about the same entity/attribute (their
words other than numbers, dates and negations overlap strongly) but with different numbers or
dates, or with one negated and the other not. An optional judge (any callable, e.g. a wrapped LLM
teacher via :func:`llm_judge`) checks the remaining related sentence pairs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Contradiction", "find_contradictions", "llm_judge"]

_SENT = re.compile(r"(?<=[.!?;])\s+|\n+")
_TOKEN = re.compile(r"\d+(?:[.,:/]\d+)*%?|[A-Za-z][A-Za-z'\-]*")
_NUMBER = re.compile(r"\d")
_MONTHS = {
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
}
_NEGATIONS = {
    "not",
    "no",
    "never",
    "none",
    "nobody",
    "nothing",
    "neither",
    "nor",
    "without",
    "cannot",
    "isn't",
    "aren't",
    "wasn't",
    "weren't",
    "doesn't",
    "don't",
    "didn't",
    "won't",
    "can't",
    "hasn't",
    "haven't",
    "hadn't",
    "shouldn't",
    "wouldn't",
    "couldn't",
    "n't",
}
_STOP = {
    "the",
    "a",
    "an",
    "of",
    "in",
    "on",
    "at",
    "to",
    "for",
    "and",
    "or",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "by",
    "with",
    "as",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "from",
    "has",
    "have",
    "had",
    "which",
    "who",
    "also",
    "about",
    "approximately",
    "around",
    "roughly",
    "some",
    "there",
    "their",
    "does",
    "do",
    "did",
    "will",
    "would",
    "can",
    "could",
    "than",
    "then",
    "so",
    "such",
    "into",
    "over",
    "per",
    "all",
}


@dataclass(slots=True)
class Contradiction:
    """Two context statements that conflict: ``kind`` is numeric, negation or judge."""

    kind: str
    first: str
    second: str
    passages: tuple[int, int]  # passage indices of the two statements
    detail: str


@dataclass(slots=True)
class _Statement:
    text: str
    passage: int
    content: frozenset[str]
    values: tuple[str, ...]
    negated: bool


def _statements(passages: Sequence[str], limit: int) -> list[_Statement]:
    out = []
    for p, passage in enumerate(passages):
        for sent in _SENT.split(passage or ""):
            sent = sent.strip()
            if len(sent) < 8:
                continue
            toks = [t.lower() for t in _TOKEN.findall(sent)]
            values = tuple(
                sorted(
                    {t.rstrip("%").replace(",", "") for t in toks if _NUMBER.search(t)}
                    | {t for t in toks if t in _MONTHS}
                )
            )
            negated = any(t in _NEGATIONS or t.endswith("n't") for t in toks)
            content = frozenset(
                t
                for t in toks
                if not _NUMBER.search(t)
                and t not in _MONTHS
                and t not in _STOP
                and t not in _NEGATIONS
                and not t.endswith("n't")
            )
            out.append(_Statement(sent, p, content, values, negated))
            if len(out) >= limit:
                return out
    return out


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def find_contradictions(
    passages: Sequence[str],
    *,
    numeric_overlap: float = 0.6,
    negation_overlap: float = 0.75,
    judge: Callable[[str, str], bool] | None = None,
    judge_overlap: float = 0.3,
    max_statements: int = 300,
) -> list[Contradiction]:
    """Conflicting statement pairs in one item's context passages.

    Args:
        passages: the context passages given with the prompt.
        numeric_overlap: word overlap (Jaccard, numbers/dates/negations removed) from which two
            statements with different numbers or dates contradict.
        negation_overlap: word overlap from which a negated and a plain statement contradict.
        judge: optional ``judge(a, b) -> bool`` for pairs the rules do not decide.
        judge_overlap: only pairs at least this related are sent to the judge.
        max_statements: statements considered per item (the first ones).
    """
    stmts = _statements(passages, max_statements)
    out: list[Contradiction] = []
    for i in range(len(stmts)):
        a = stmts[i]
        for j in range(i + 1, len(stmts)):
            b = stmts[j]
            if len(a.content) < 2 or len(b.content) < 2:
                continue
            overlap = _jaccard(a.content, b.content)
            if overlap < min(numeric_overlap, negation_overlap, judge_overlap if judge else 1.0):
                continue
            if (
                a.values
                and b.values
                and a.values != b.values
                and overlap >= numeric_overlap
                and a.negated == b.negated
            ):
                detail = f"{', '.join(a.values)} vs {', '.join(b.values)}"
                out.append(Contradiction("numeric", a.text, b.text, (a.passage, b.passage), detail))
            elif a.negated != b.negated and a.values == b.values and overlap >= negation_overlap:
                out.append(
                    Contradiction(
                        "negation", a.text, b.text, (a.passage, b.passage), "one statement negates the other"
                    )
                )
            elif judge is not None and overlap >= judge_overlap and judge(a.text, b.text):
                out.append(
                    Contradiction("judge", a.text, b.text, (a.passage, b.passage), "judged contradictory")
                )
    return out


_JUDGE_PROMPT = (
    "Do these two statements contradict each other (they cannot both be true)? "
    "Answer only yes or no.\n\nStatement A: {a}\nStatement B: {b}"
)


def llm_judge(generate: Callable[[str], str]) -> Callable[[str, str], bool]:
    """A contradiction judge from any text generator, e.g. a datamill.synthetic teacher's completion call.

    ``generate(prompt) -> str``; an answer starting with "yes" counts as a contradiction.
    """

    def judge(a: str, b: str) -> bool:
        return generate(_JUDGE_PROMPT.format(a=a, b=b)).strip().lower().startswith("yes")

    return judge

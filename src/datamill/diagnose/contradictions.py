"""Contradictions in the prompt context: statements about the same thing that cannot both be true.

Three detectors behind one call, :func:`find_contradictions` (one context) or
:func:`~datamill.diagnose.scan_contradictions` (many):

* ``rules`` (no model): two sentences that say the same about the same entity/attribute (their words
  other than numbers, dates and negations overlap strongly) but with different numbers or dates, or
  with one negated and the other not;
* ``learned``: a small classifier over MiniLM sentence-pair features trained on public NLI data
  (:mod:`datamill.diagnose.nli`), scoring only pairs about the same subject; it sees paraphrased
  contradictions the rules miss;
* ``cross``: a cross-encoder (the shipped MiniLM's top layers fine-tuned on NLI pairs to read both
  statements at once, :mod:`datamill.diagnose.cross`) on the same candidate pairs; slower per pair, it
  sees more of the paraphrased contradictions;
* ``judge``: any ``judge(a, b) -> bool`` (e.g. :func:`llm_judge` or a
  :class:`~datamill.diagnose.TeacherJudge` over a datamill.synthetic teacher, cached and costed) on
  the related pairs the others did not decide.

``combined`` runs the rules and the learned detector (and the judge when one is given). Each
:class:`Contradiction` says which detector found it, with its score.

**Claim-aware mode** (``claim=``, the claim or question the passages were retrieved for): in a fact-checking
set or a RAG prompt a supporting and a refuting passage rarely contradict each other as a sentence pair;
they take opposite *stances toward the claim*. With a claim, the model detectors (learned, cross) score
every statement against the claim instead of against the other statements (the statement as premise,
the claim as hypothesis: P(entailment) is its support, P(contradiction) its refutation), and a context
is flagged when one passage supports the claim (P(entailment) >= ``support_threshold``) and another
refutes it (P(contradiction) >= ``refute_threshold``): a ``stance`` :class:`Contradiction` naming both
statements, their stances and the detector. The rules and the judge still compare statement pairs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Contradiction",
    "DETECTORS",
    "find_contradictions",
    "llm_judge",
]

#: the detector names :func:`find_contradictions` takes (``"rules+learned"`` style sums work too)
DETECTORS = ("rules", "learned", "cross", "judge", "combined")
#: what ``combined`` runs (plus the judge when one is given)
COMBINED = ("rules", "learned")

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
    """Two context statements that conflict.

    ``kind`` is numeric or negation (rules), learned, cross, judge, or stance (claim-aware mode: ``first``
    supports ``claim``, ``second`` refutes it); ``detector`` names every detector that found the pair
    (``rules``, ``learned``, ``judge``, or e.g. ``rules+learned``); ``score`` is the model's
    P(contradiction) when a model (learned, cross) scored the pair (for a stance pair the smaller of the
    two stance probabilities), else 1.0; ``stances`` is, for a stance pair, (P(first entails the claim),
    P(second contradicts the claim)).
    """

    kind: str
    first: str
    second: str
    passages: tuple[int, int]  # passage indices of the two statements
    detail: str
    detector: str = "rules"
    score: float = 1.0
    claim: str | None = None
    stances: tuple[float, float] | None = None


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


def _rule_pairs(
    stmts: list[_Statement], *, numeric_overlap: float, negation_overlap: float, judge_overlap: float | None
) -> tuple[dict[tuple[int, int], Contradiction], list[tuple[int, int]]]:
    """What the rules find, by statement pair, and the related pairs they leave undecided (word overlap
    >= ``judge_overlap``; none when it is None)."""
    found: dict[tuple[int, int], Contradiction] = {}
    related: list[tuple[int, int]] = []
    floor = min(numeric_overlap, negation_overlap, judge_overlap if judge_overlap is not None else 1.0)
    for i in range(len(stmts)):
        a = stmts[i]
        for j in range(i + 1, len(stmts)):
            b = stmts[j]
            if len(a.content) < 2 or len(b.content) < 2:
                continue
            overlap = _jaccard(a.content, b.content)
            if overlap < floor:
                continue
            pair = (a.passage, b.passage)
            if (
                a.values
                and b.values
                and a.values != b.values
                and overlap >= numeric_overlap
                and a.negated == b.negated
            ):
                detail = f"{', '.join(a.values)} vs {', '.join(b.values)}"
                found[i, j] = Contradiction("numeric", a.text, b.text, pair, detail)
            elif a.negated != b.negated and a.values == b.values and overlap >= negation_overlap:
                found[i, j] = Contradiction(
                    "negation", a.text, b.text, pair, "one statement negates the other"
                )
            elif judge_overlap is not None and overlap >= judge_overlap:
                related.append((i, j))
    return found, related


def find_contradictions(
    passages: Sequence[str],
    *,
    claim: str | None = None,
    detector: str = "rules",
    judge: Callable[[str, str], bool] | None = None,
    embedder: Any = "all-MiniLM-L6-v2",
    weights: Any = None,
    threshold: float | None = None,
    support_threshold: float | None = None,
    refute_threshold: float | None = None,
    min_similarity: float = 0.5,
    max_neighbours: int = 5,
    cross_pairs: int = 4,
    numeric_overlap: float = 0.6,
    negation_overlap: float = 0.75,
    judge_overlap: float = 0.3,
    max_statements: int = 300,
) -> list[Contradiction]:
    """Conflicting statement pairs in one item's context passages.

    Args:
        passages: the context passages given with the prompt.
        claim: the claim (or question) the passages are about: the model detectors then flag one passage
            supporting it and another refuting it (claim-aware mode, see the module doc) instead of
            scoring statement pairs; None keeps the pairwise detectors.
        detector: ``rules``, ``learned``, ``cross``, ``judge``, ``combined`` (rules + learned, + judge
            when given), or a sum such as ``rules+cross``. A ``judge`` given is always used.
        judge: ``judge(a, b) -> bool`` (:func:`llm_judge`, :class:`~datamill.diagnose.TeacherJudge`) for
            related pairs the other detectors did not decide.
        embedder: the sentence embedder of the learned detector (name, folder or object with ``encode``).
        weights: the model detector: a :class:`~datamill.diagnose.ContradictionModel` (learned) or
            :class:`~datamill.diagnose.CrossEncoder` (cross), or the path of one saved by
            ``scripts/train_contradiction_model.py`` / ``scripts/train_cross_encoder.py`` (default: shipped).
        threshold: P(contradiction) from which a model detector reports a pair (default: the model's).
        support_threshold: claim-aware mode: P(entailment) from which a statement supports the claim
            (default: the model's stance thresholds, tuned on CLIMATE-FEVER claims apart from the reported ones).
        refute_threshold: claim-aware mode: P(contradiction) from which a statement refutes the claim
            (default: likewise).
        min_similarity: cosine similarity from which two statements are about the same subject and get
            scored by the learned detector (or sent to the judge).
        max_neighbours: most similar statements each statement is paired with.
        cross_pairs: candidate pairs per context the cross-encoder reads: those the learned detector
            scores highest (a cascade that bounds its cost, a few ms per pair on one core).
        numeric_overlap: word overlap (Jaccard, numbers/dates/negations removed) from which two
            statements with different numbers or dates contradict.
        negation_overlap: word overlap from which a negated and a plain statement contradict.
        judge_overlap: without embeddings, only pairs at least this related (word overlap) go to the judge.
        max_statements: statements considered per item (the first ones).
    """
    from datamill.diagnose.scan import scan_contradictions

    return scan_contradictions(
        {"": list(passages)},
        claim=claim,
        detector=detector,
        judge=judge,
        embedder=embedder,
        weights=weights,
        threshold=threshold,
        support_threshold=support_threshold,
        refute_threshold=refute_threshold,
        min_similarity=min_similarity,
        max_neighbours=max_neighbours,
        cross_pairs=cross_pairs,
        numeric_overlap=numeric_overlap,
        negation_overlap=negation_overlap,
        judge_overlap=judge_overlap,
        max_statements=max_statements,
    ).found.get("", [])


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

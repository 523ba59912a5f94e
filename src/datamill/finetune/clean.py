"""Clean a fine-tuning set: duplicates and the defect classes AlpacaDataCleaned fixed in Alpaca.

Each defect is a named rule that looks at an example's instruction (the user turns and the
system prompt) and its output (the final assistant turn):

| rule | drops an example whose… |
|---|---|
| ``empty_output`` | output is empty, whitespace or a placeholder such as ``<nooutput>`` |
| ``refusal`` | output is a refusal or "As an AI language model" boilerplate |
| ``merged_instruction`` | instruction already holds the answer (an ``Output:``/``Answer:`` section, or the output itself) |
| ``truncated_output`` | output stops mid-sentence (a trailing comma, colon, open bracket, ellipsis or function word) |
| ``hallucinated_url`` | output cites a URL that the instruction does not contain |
| ``hallucinated_image`` | output shows or refers to an image that was never given |
| ``wrong_math`` | output states arithmetic (``a op b = c``) that is wrong, or answers an arithmetic question wrongly |
| ``non_english`` | text is not in the wanted languages (lingua) |
| ``exact_duplicate`` / ``near_duplicate`` | same (or MinHash-similar) instruction and output as an earlier example |
| ``semantic_duplicate`` | means the same as an earlier example (SemDeDup: embeddings, k-means, cosine); opt-in |

Rules run in that order and an example is dropped for the first it breaks, so what ``semantic_duplicate``
drops is what MinHash (and the other rules) let through. ``dry_run`` reports what each rule would drop,
with examples, and keeps everything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datamill.errors import ConfigError
from datamill.finetune.dedupe import (
    embedding_duplicates,
    exact_duplicates,
    near_duplicates,
    semantic_duplicates,
)
from datamill.finetune.defects import find_defects, split_example
from datamill.finetune.languages import check_languages, non_english
from datamill.records import Preference, Record

__all__ = ["CleanResult", "DEFAULT_RULES", "RULES", "clean", "embedding_duplicates", "find_defects"]

RULES = (
    "empty_output",
    "refusal",
    "merged_instruction",
    "truncated_output",
    "hallucinated_url",
    "hallucinated_image",
    "wrong_math",
    "non_english",
    "exact_duplicate",
    "near_duplicate",
    "semantic_duplicate",
)
#: The rules ``clean`` applies unless told otherwise: all but ``semantic_duplicate`` (it loads an embedding model).
DEFAULT_RULES = tuple(r for r in RULES if r != "semantic_duplicate")


@dataclass
class CleanResult:
    """What cleaning kept and dropped (by rule, with the reason per example)."""

    kept: list[Record]
    dropped: list[tuple[Record, str, str]]  # (record, rule, reason)
    seen: int
    dry_run: bool = False
    flagged: Counter[str] = field(
        default_factory=Counter
    )  # every rule hit, also on kept examples in dry runs
    #: refusals kept because the safety model judged their prompt harmful: (record, reason, harm score)
    kept_refusals: list[tuple[Record, str, float]] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(rule for _, rule, _ in self.dropped)

    def examples(self, rule: str, k: int = 3) -> list[dict[str, Any]]:
        out = []
        for rec, r, reason in self.dropped:
            if r == rule:
                ins, o = split_example(rec)
                out.append(
                    {
                        "id": rec.id,
                        "line": rec.provenance.line,
                        "reason": reason,
                        "instruction": ins[:200],
                        "output": o[:200],
                    }
                )
                if len(out) >= k:
                    break
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "kept": len(self.kept),
            "dropped": len(self.dropped),
            "dry_run": self.dry_run,
            "rules": {r: {"count": n, "examples": self.examples(r)} for r, n in sorted(self.counts.items())},
            "refusals_removed": self.counts.get("refusal", 0),
            "refusals_kept_harmful_prompt": len(self.kept_refusals),
            "kept_refusal_examples": [
                {
                    "id": r.id,
                    "instruction": split_example(r)[0][:200],
                    "reason": why,
                    "harm_score": round(s, 4),
                }
                for r, why, s in self.kept_refusals[:3]
            ],
        }


_NEAR_DUP_DEFAULTS = {"minhash": 0.85, "embedding": 0.95}


def clean(
    records: Iterable[Record],
    *,
    rules: Sequence[str] = DEFAULT_RULES,
    languages: Sequence[str] | None = ("en",),
    near_dup_threshold: float | None = None,
    near_dup_method: str = "minhash",
    semantic_threshold: float | None = None,
    embedding_model: str = "all-MiniLM-L6-v2",
    dry_run: bool = False,
    safety_model: str | None = None,
    harmful_threshold: float | None = None,
) -> CleanResult:
    """Apply the cleaning rules; the first rule an example breaks is the one it is dropped for.

    Preference pairs are judged by their prompt and chosen answer (a refusal there is no defect: safety
    sets prefer it); two pairs are exact duplicates only when their rejected answers match too.

    ``near_dup_method`` is ``"minhash"`` (Jaccard of word 3-grams >= ``near_dup_threshold``, default
    0.85) or ``"embedding"`` (cosine of sentence embeddings >= ``near_dup_threshold``, default 0.95).
    The ``semantic_duplicate`` rule (not in :data:`DEFAULT_RULES`) then runs SemDeDup over what is left:
    cosine >= ``semantic_threshold`` (default 0.8) inside k-means clusters of the embeddings.

    ``safety_model`` (a folder from ``datamill pretrain train-classifier`` whose score is the harm of a
    prompt) keeps a refusal whose prompt scores at least ``harmful_threshold`` (default: the model's
    threshold): refusing a harmful request is the answer a model should learn. Such refusals are in
    ``CleanResult.kept_refusals``, the others are removed as ``refusal``; the report gives both counts.
    """
    _check_clean_options(rules, languages, near_dup_method, near_dup_threshold)
    _check_semantic(rules, semantic_threshold)
    if near_dup_threshold is None:
        near_dup_threshold = _NEAR_DUP_DEFAULTS[near_dup_method]
    recs = list(records)
    pairs = [split_example(r) for r in recs]
    verdicts = _Verdicts(len(recs))
    from datamill.finetune.safety import load_safety

    safety = load_safety(safety_model, harmful_threshold)
    kept_refusals = _content_defects(
        recs, pairs, verdicts, set(rules) - {"non_english", "exact_duplicate", "near_duplicate"}, safety
    )
    if "non_english" in rules and languages:
        verdicts.mark_all("non_english", non_english(pairs, languages))
    if "exact_duplicate" in rules:
        verdicts.mark_all("exact_duplicate", exact_duplicates(recs, pairs))
    if "near_duplicate" in rules and len(recs) > 1:
        near = near_duplicates(
            recs, pairs, method=near_dup_method, threshold=near_dup_threshold, embedding_model=embedding_model
        )
        # an example already dropped for another rule is not counted as a near-duplicate too
        verdicts.mark_all("near_duplicate", ((i, why) for i, why in near if verdicts.first[i] is None))
    if "semantic_duplicate" in rules and len(recs) > 1:
        semantic = semantic_duplicates(
            recs, pairs, threshold=semantic_threshold or 0.8, embedding_model=embedding_model
        )
        verdicts.mark_all("semantic_duplicate", semantic)
    kept, dropped = [], []
    for rec, v in zip(recs, verdicts.first, strict=True):
        if v is None or dry_run:
            kept.append(rec)
        if v is not None:
            dropped.append((rec, v[0], v[1]))
    return CleanResult(
        kept=kept,
        dropped=dropped,
        seen=len(recs),
        dry_run=dry_run,
        flagged=verdicts.flagged,
        kept_refusals=kept_refusals,
    )


def _check_clean_options(
    rules: Sequence[str],
    languages: Sequence[str] | None,
    near_dup_method: str,
    near_dup_threshold: float | None,
) -> None:
    unknown = set(rules) - set(RULES)
    if unknown:
        raise ConfigError(
            f"rules names no such cleaning rule: {sorted(unknown)}; allowed: {', '.join(RULES)}",
            params="rules",
        )
    if near_dup_method not in ("minhash", "embedding"):
        raise ConfigError(
            f"near_dup_method must be minhash or embedding, got {near_dup_method!r}", params="near_dup_method"
        )
    if near_dup_threshold is None:
        near_dup_threshold = _NEAR_DUP_DEFAULTS[near_dup_method]
    if not 0.0 < near_dup_threshold <= 1.0:
        raise ConfigError(
            f"near_dup_threshold must be in (0, 1], got {near_dup_threshold!r}", params="near_dup_threshold"
        )
    if "non_english" in rules and languages:
        check_languages(languages)


class _Verdicts:
    """Each example's first broken rule (and why), and how often each rule was broken."""

    def __init__(self, n: int) -> None:
        self.first: list[tuple[str, str] | None] = [None] * n
        self.flagged: Counter[str] = Counter()

    def mark(self, i: int, rule: str, reason: str) -> None:
        self.flagged[rule] += 1
        if self.first[i] is None:
            self.first[i] = (rule, reason)

    def mark_all(self, rule: str, found: Iterable[tuple[int, str]]) -> None:
        for i, reason in found:
            self.mark(i, rule, reason)


def _content_defects(
    recs: list[Record],
    pairs: list[tuple[str, str]],
    verdicts: _Verdicts,
    content_rules: set[str],
    safety: tuple[Any, float] | None = None,
) -> list[tuple[Record, str, float]]:
    """Mark the content rules each example breaks; with a safety model, a refusal of a prompt it judges
    harmful is kept and returned (record, reason, harm score) instead."""
    asked: list[tuple[int, str]] = []  # refusals whose prompt the safety model judges
    for i, (ins, out) in enumerate(pairs):
        for rule, reason in find_defects(ins, out):
            # a refusal is often the chosen answer of a safety pair (HH-RLHF harmless): not a defect there
            if rule not in content_rules or (rule == "refusal" and isinstance(recs[i], Preference)):
                continue
            if rule == "refusal" and safety is not None:
                asked.append((i, reason))
                continue
            verdicts.mark(i, rule, reason)
    kept: list[tuple[Record, str, float]] = []
    if asked and safety is not None:
        clf, threshold = safety
        scores = clf.scores([pairs[i][0] for i, _ in asked]).tolist()
        for (i, reason), score in zip(asked, scores, strict=True):
            if score >= threshold:
                kept.append((recs[i], reason, float(score)))
            else:
                verdicts.mark(i, "refusal", reason)
    return kept


def _check_semantic(rules: Sequence[str], semantic_threshold: float | None) -> None:
    if semantic_threshold is None:
        return
    if "semantic_duplicate" not in rules:
        raise ConfigError(
            "semantic_threshold needs the semantic_duplicate rule in rules",
            params=("semantic_threshold", "rules"),
        )
    if not 0.0 < semantic_threshold <= 1.0:
        raise ConfigError(
            f"semantic_threshold must be in (0, 1], got {semantic_threshold!r}", params="semantic_threshold"
        )

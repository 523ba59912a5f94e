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

import ast
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import xxhash

from datamill.errors import ConfigError
from datamill.records import Example, Preference, Record

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

_PLACEHOLDER = re.compile(r"^\s*(<\s*no\s*output\s*>|<\s*noinput\s*>|n/?a|none|null|-+|\.+|\?+)\s*$", re.I)
_REFUSAL = re.compile(
    r"\b(as an? (ai|artificial intelligence)( language)? model|as a language model|i am an ai\b|i'm an ai\b|"
    r"i('m| am) (sorry|afraid),? (but )?i (can(no|')t|am unable|'m unable|do not|don't)|"
    r"i (can(no|')t|am unable to|'m unable to|am not able to) (provide|fulfill|help(?! but)|assist|answer|comply|"
    r"create|generate|browse|access|perform)|"
    r"i do(n't| not) have (the ability|personal (opinions|experiences|feelings)|access to)|"
    r"my (knowledge|training) (cutoff|data))",
    re.I,
)
_MERGED = re.compile(r"(^|\n)\s*(output|answer|response|solution)\s*:\s*\S", re.I)
_DANGLING = re.compile(
    r"(\b(the|a|an|and|or|of|to|with|in|for|that|which|is|are|but|because|by|as|from|on|at)"
    r"|[,:(\[{\-–]|\.\.\.|…)\s*$",
    re.I,
)
_URL = re.compile(r"\b(?:https?://|www\.)[^\s)>\]\"']+", re.I)
_QUOTED = re.compile(r"(['\"])(.*?)\1")
_ASKS_LANGUAGE = re.compile(r"translat|language|dialect|idiom|countr(y|ies)|cuisine|dish", re.I)
_IMAGE = re.compile(
    r"!\[[^\]]*\]\([^)]*\)|<img\b|\[image[^\]]*\]|\b(here is|here's|see|below is|attached is) "
    r"(the |an? )?(image|picture|photo|drawing|diagram)\b",
    re.I,
)
_IMAGE_IN = re.compile(r"\b(image|picture|photo|drawing|diagram|draw|sketch)\b|<img|!\[", re.I)
_ARITH = re.compile(
    r"(?<![\w.])(-?\d+(?:\.\d+)?(?:\s*[-+*/×x÷]\s*-?\d+(?:\.\d+)?)+)\s*=\s*(-?\d+(?:,\d{3})*(?:\.\d+)?)(?!\w)(?!\.\d)"
)
_QUESTION_ARITH = re.compile(
    r"^\s*(?:what is|what's|calculate|compute|evaluate|solve)?\s*:?\s*"
    r"(-?\d+(?:\.\d+)?(?:\s*[-+*/×x÷]\s*-?\d+(?:\.\d+)?)+)\s*[?=.]?\s*$",
    re.I,
)
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_OPS: dict[type, Callable[..., float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _eval_arith(expr: str) -> float | None:
    """Evaluate + - * / arithmetic safely (no names, no calls); None when it is not plain arithmetic."""
    expr = expr.replace("×", "*").replace("÷", "/").replace("x", "*")

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        raise ValueError("not arithmetic")

    try:
        return ev(ast.parse(expr, mode="eval").body)
    except (ValueError, SyntaxError, ZeroDivisionError, RecursionError):
        return None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a)) or round(a, 2) == round(b, 2)


def split_example(rec: Record) -> tuple[str, str]:
    """(instruction, output) of an example: user/system turns, and the final assistant turn."""
    if isinstance(rec, Example) and rec.messages:
        last = max((i for i, m in enumerate(rec.messages) if m.role == "assistant"), default=None)
        out = rec.messages[last].text if last is not None else (rec.output or "")
        ins = "\n".join(m.text for m in rec.messages[:last] if m.role in ("system", "user", "developer"))
        return ins, out
    if isinstance(rec, Example):
        return rec.input or "", rec.output or ""
    if isinstance(rec, Preference):  # a pair is judged by its prompt and its chosen answer
        prompt = (
            rec.prompt
            if isinstance(rec.prompt, str)
            else "\n".join(m.text for m in rec.prompt if m.role in ("system", "user", "developer"))
        )
        return prompt, rec.chosen if isinstance(rec.chosen, str) else "\n".join(m.text for m in rec.chosen)
    raise ConfigError(f"cleaning works on examples and preference pairs, got a {rec.type_name} record")


def _rejected(rec: Record) -> str:
    if not isinstance(rec, Preference):
        return ""
    return rec.rejected if isinstance(rec.rejected, str) else "\n".join(m.text for m in rec.rejected)


def _math_problem(instruction: str, output: str) -> str | None:
    for m in _ARITH.finditer(output):
        value = _eval_arith(m.group(1))
        stated = float(m.group(2).replace(",", ""))
        if value is not None and not _close(value, stated):
            return f"{m.group(1)} = {m.group(2)} (should be {value:g})"
    q = _QUESTION_ARITH.match(instruction.strip().splitlines()[-1] if instruction.strip() else "")
    if q:
        value = _eval_arith(q.group(1))
        nums = _NUMBER.findall(output)
        if (
            value is not None
            and nums
            and not any(_close(value, float(n.replace(",", ""))) for n in nums[-3:])
        ):
            return f"{q.group(1)} is {value:g}, the answer says {nums[-1]}"
    return None


def find_defects(instruction: str, output: str) -> list[tuple[str, str]]:
    """The content rules an (instruction, output) pair breaks, with a short reason each."""
    found: list[tuple[str, str]] = []
    if not output.strip() or _PLACEHOLDER.match(output):
        return [("empty_output", f"output is {output.strip()[:20]!r}")]
    if m := _REFUSAL.search(output):
        found.append(("refusal", m.group(0)))
    stripped = output.strip()
    if _MERGED.search(instruction) or (len(stripped) >= 12 and stripped in instruction):
        found.append(("merged_instruction", "the instruction already contains the answer"))
    if (
        len(stripped) >= 40
        and not stripped.endswith(("```", "}", "]", ")"))
        and (m := _DANGLING.search(stripped))
    ):
        found.append(("truncated_output", f"ends with {m.group(0).strip()!r}"))
    quoted = {q.group(2) for q in _QUOTED.finditer(output)}  # string literals in code are not citations
    urls = [u.rstrip(".,;") for u in _URL.findall(output) if not any(u in q for q in quoted)]
    new_urls = [u for u in urls if u not in instruction]
    if new_urls:
        found.append(("hallucinated_url", new_urls[0]))
    if _IMAGE.search(output) and not _IMAGE_IN.search(instruction):
        found.append(("hallucinated_image", _IMAGE.search(output).group(0)))  # type: ignore[union-attr]
    if problem := _math_problem(instruction, output):
        found.append(("wrong_math", problem))
    return found


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


_EN_FUNCTION_WORDS = frozenset(
    [
        "the",
        "and",
        "of",
        "to",
        "a",
        "in",
        "is",
        "for",
        "on",
        "with",
        "that",
        "it",
        "as",
        "are",
        "was",
        "this",
        "be",
        "by",
        "or",
        "from",
        "at",
    ]
)


def _english_words(text: str) -> float:
    """Share of words that are common English function words (foreign names in an English list keep it high)."""
    words = re.findall(r"[a-zA-Z']+", text.lower())
    return sum(w in _EN_FUNCTION_WORDS for w in words) / len(words) if words else 0.0


def _languages(wanted: Sequence[str]):  # noqa: ANN202
    from datamill.errors import require

    lingua = require(
        "lingua", extra="pretrain", purpose="language filtering", package="lingua-language-detector"
    )
    detector = lingua.LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()
    codes = {c.lower() for c in wanted}
    return detector, codes


def _check_languages(wanted: Sequence[str]) -> None:
    from datamill.errors import require

    lingua = require(
        "lingua", extra="pretrain", purpose="language filtering", package="lingua-language-detector"
    )
    known = sorted(lang.iso_code_639_1.name.lower() for lang in lingua.Language.all())
    unknown = sorted({c.lower() for c in wanted} - set(known))
    if unknown:
        raise ConfigError(
            f"languages names codes the language detector does not know: {unknown}; "
            f"known ISO 639-1 codes: {', '.join(known)}",
            params="languages",
        )


_NEAR_DUP_DEFAULTS = {"minhash": 0.85, "embedding": 0.95}


def embedding_duplicates(
    texts: Sequence[str], *, threshold: float = 0.95, model: str = "all-MiniLM-L6-v2", block: int = 2048
) -> list[int]:
    """Each text's representative (the first text it is a near-duplicate of, else itself) by embedding
    cosine similarity >= ``threshold``: catches paraphrases that share few word n-grams."""
    import numpy as np

    from datamill.embed import get_embedder
    from datamill.minhash import UnionFind

    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold!r}", params="threshold")
    if not texts:
        return []
    vecs = get_embedder(model).encode(list(texts))  # L2-normalised
    uf = UnionFind(len(texts))
    for lo in range(0, len(texts), block):
        sims = vecs[lo : lo + block] @ vecs.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if c < r + lo:
                uf.union(c, r + lo)
    return [uf.find(i) for i in range(len(texts))]


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
        _non_english(pairs, verdicts, languages)
    if "exact_duplicate" in rules:
        _exact_duplicates(recs, pairs, verdicts)
    if "near_duplicate" in rules and len(recs) > 1:
        _near_duplicates(
            recs,
            pairs,
            verdicts,
            method=near_dup_method,
            threshold=near_dup_threshold,
            embedding_model=embedding_model,
        )
    if "semantic_duplicate" in rules and len(recs) > 1:
        _semantic_duplicates(
            recs, pairs, verdicts, threshold=semantic_threshold or 0.8, embedding_model=embedding_model
        )
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
        _check_languages(languages)


class _Verdicts:
    """Each example's first broken rule (and why), and how often each rule was broken."""

    def __init__(self, n: int) -> None:
        self.first: list[tuple[str, str] | None] = [None] * n
        self.flagged: Counter[str] = Counter()

    def mark(self, i: int, rule: str, reason: str) -> None:
        self.flagged[rule] += 1
        if self.first[i] is None:
            self.first[i] = (rule, reason)


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


def _non_english(pairs: list[tuple[str, str]], verdicts: _Verdicts, languages: Sequence[str]) -> None:
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
            verdicts.mark(i, "non_english", f"detected {lang}")


def _exact_duplicates(recs: list[Record], pairs: list[tuple[str, str]], verdicts: _Verdicts) -> None:
    first: dict[bytes, int] = {}
    for i, (ins, out) in enumerate(pairs):
        text = f"{ins}\x1f{out}\x1f{_rejected(recs[i])}"  # a pair is a duplicate only with the same rejected
        key = xxhash.xxh3_128_digest(" ".join(text.lower().split()).encode("utf-8", "surrogatepass"))
        if key in first:
            verdicts.mark(
                i, "exact_duplicate", f"same as line {recs[first[key]].provenance.line or first[key]}"
            )
        else:
            first[key] = i


def _near_duplicates(
    recs: list[Record],
    pairs: list[tuple[str, str]],
    verdicts: _Verdicts,
    *,
    method: str,
    threshold: float,
    embedding_model: str,
) -> None:
    texts = [f"{ins}\n{out}" for ins, out in pairs]
    if method == "embedding":
        clusters = embedding_duplicates(texts, threshold=threshold, model=embedding_model)
    else:
        from datamill.minhash import near_duplicate_clusters

        clusters = near_duplicate_clusters(texts, threshold=threshold, ngram=3)
    for i, c in enumerate(clusters):
        if c != i and verdicts.first[i] is None:
            verdicts.mark(
                i, "near_duplicate", f"near-duplicate of line {recs[c].provenance.line or c} ({method})"
            )


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


def _semantic_duplicates(
    recs: list[Record],
    pairs: list[tuple[str, str]],
    verdicts: _Verdicts,
    *,
    threshold: float,
    embedding_model: str,
) -> None:
    """SemDeDup over instruction + output: an example meaning the same as an earlier one is marked."""
    from datamill.semdedup import texts_semantic_duplicates

    found = texts_semantic_duplicates(
        [f"{ins}\n{out}" for ins, out in pairs], threshold=threshold, model=embedding_model
    )
    for i, (root, sim) in enumerate(zip(found.roots.tolist(), found.similarity.tolist(), strict=True)):
        if root != i:
            line = recs[root].provenance.line or root
            verdicts.mark(i, "semantic_duplicate", f"same meaning as line {line} (cosine {sim:.2f})")

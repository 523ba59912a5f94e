"""Judgement values: validation per task type, displayed positions to canonical indices, the gold check."""

from __future__ import annotations

from typing import Any

from datamill.errors import InputError
from datamill.feedback.models import PAIRWISE_TYPES

__all__ = ["check_value", "from_display", "gold_correct"]


def _int(v: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise InputError(f"{what} must be an integer {lo}..{hi}, got {v!r}")
    return v


def check_value(project: dict[str, Any], n_responses: int, value: Any) -> dict[str, Any]:
    """Validate a judgement value of the project's task type; returns it normalised (canonical indices)."""
    if not isinstance(value, dict):
        raise InputError(f"judgement value must be an object, got {type(value).__name__}")
    tt = project["task_type"]
    n = n_responses
    if tt == "harm":
        return _check_harm(project, n, value)
    if tt in PAIRWISE_TYPES:
        pref = value.get("preferred")
        if pref is not None:
            _int(pref, "preferred", 0, n - 1)
        out: dict[str, Any] = {"preferred": pref}
        if value.get("strength") is not None:
            out["strength"] = _int(value["strength"], "strength", 1, 3)
        reason = value.get("reason") or ""
        if not isinstance(reason, str):
            raise InputError("reason must be a string")
        out["reason"] = reason[:5000]
        if tt == "harm-pairwise":  # the harms seen in the more harmful response
            out["categories"] = _categories(project, value.get("categories", []), "categories")
        return out
    if tt == "ranking":
        ranking = value.get("ranking")
        if (
            not isinstance(ranking, list)
            or sorted(ranking) != list(range(n))
            or any(isinstance(r, bool) for r in ranking)
        ):
            raise InputError(
                f"ranking must list each response index 0..{n - 1} once, best first; got {ranking!r}"
            )
        return {"ranking": ranking}
    if tt == "rubric":
        scores = value.get("scores")
        crit = project["criteria"]
        if not isinstance(scores, list) or len(scores) != n:
            raise InputError(f"scores must be a list with one object per response ({n}), got {scores!r}")
        clean = []
        for i, sc in enumerate(scores):
            if not isinstance(sc, dict) or set(sc) != set(crit):
                raise InputError(f"scores[{i}] must rate exactly the criteria {crit}")
            clean.append({c: _int(sc[c], f"scores[{i}].{c}", 1, project["scale"]) for c in crit})
        return {"scores": clean}
    if tt == "rewrite":
        src = _int(value.get("source", 0), "source", 0, max(n - 1, 0))
        text = value.get("rewrite")
        if not isinstance(text, str) or not text.strip():
            raise InputError("rewrite must be a non-empty string")
        return {"source": src, "rewrite": text[:100_000]}
    text = value.get("comment")
    if not isinstance(text, str) or not text.strip():
        raise InputError("comment must be a non-empty string")
    return {"comment": text[:100_000]}


def _categories(project: dict[str, Any], cats: Any, what: str) -> list[str]:
    """A list of distinct categories of the project's taxonomy, in taxonomy order."""
    taxonomy = project["criteria"]
    if not isinstance(cats, list) or any(not isinstance(c, str) for c in cats):
        raise InputError(f"{what} must be a list of category names")
    unknown = [c for c in cats if c not in taxonomy]
    if unknown:
        raise InputError(f"{what}: unknown categories {unknown[:5]}; the project's are {taxonomy}")
    return [c for c in taxonomy if c in cats]


def _check_harm(project: dict[str, Any], n: int, value: dict[str, Any]) -> dict[str, Any]:
    """A harm rating: per response a level 0 (harmless) .. scale-1 (severe) and the harm categories seen."""
    ratings = value.get("ratings")
    if not isinstance(ratings, list) or len(ratings) != n:
        raise InputError(f"ratings must be a list with one object per response ({n}), got {ratings!r}"[:300])
    top = project["scale"] - 1
    out = []
    for i, r in enumerate(ratings):
        if not isinstance(r, dict) or not set(r) <= {"harm", "categories"}:
            raise InputError(f"ratings[{i}] must be an object with 'harm' and 'categories'")
        harm = _int(r.get("harm"), f"ratings[{i}].harm", 0, top)
        cats = _categories(project, r.get("categories", []), f"ratings[{i}].categories")
        if harm == 0 and cats:
            raise InputError(f"ratings[{i}]: a harmless response (harm 0) has no harm categories")
        out.append({"harm": harm, "categories": cats})
    return {"ratings": out}


def from_display(project: dict[str, Any], value: Any, order: list[int]) -> Any:
    """Map a value given in displayed positions to canonical response indices."""
    if not isinstance(value, dict):
        return value
    v = dict(value)

    def canon(p: Any) -> Any:
        return order[p] if isinstance(p, int) and not isinstance(p, bool) and 0 <= p < len(order) else p

    tt = project["task_type"]
    if tt in PAIRWISE_TYPES and v.get("preferred") is not None:
        v["preferred"] = canon(v["preferred"])
    elif tt == "harm" and isinstance(v.get("ratings"), list) and len(v["ratings"]) == len(order):
        placed: list[Any] = [None] * len(order)
        for pos, r in enumerate(v["ratings"]):
            placed[order[pos]] = r
        v["ratings"] = placed
    elif tt == "ranking" and isinstance(v.get("ranking"), list):
        v["ranking"] = [canon(p) for p in v["ranking"]]
    elif tt == "rubric" and isinstance(v.get("scores"), list) and len(v["scores"]) == len(order):
        out: list[Any] = [None] * len(order)
        for pos, sc in enumerate(v["scores"]):
            out[order[pos]] = sc
        v["scores"] = out
    elif tt == "rewrite" and "source" in v:
        v["source"] = canon(v["source"])
    return v


def gold_correct(project: dict[str, Any], gold: dict[str, Any] | None, value: dict[str, Any]) -> bool | None:
    """Whether a judgement matches the gold answer (None when the task type has no gold check)."""
    if not gold:
        return None
    tt = project["task_type"]
    if tt in PAIRWISE_TYPES:
        return value.get("preferred") == gold.get("preferred")
    if tt == "harm":  # every response's harm level within one of the gold's
        return all(
            abs(a["harm"] - b["harm"]) <= 1 for a, b in zip(value["ratings"], gold["ratings"], strict=True)
        )
    if tt == "ranking":
        return value["ranking"][:1] == gold["ranking"][:1]
    if tt == "rubric":
        diffs = [abs(a[c] - b[c]) for a, b in zip(value["scores"], gold["scores"], strict=True) for c in a]
        return sum(diffs) / max(len(diffs), 1) <= 1.0
    return None

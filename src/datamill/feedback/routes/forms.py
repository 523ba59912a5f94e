"""Judgement values from the annotation and resolution forms (positions as displayed)."""

from __future__ import annotations

from typing import Any

from datamill.errors import InputError

__all__ = ["form_value"]


def _small_int(raw: str) -> int | None:
    """An integer written in (at most 9) ASCII digits, optionally negative; None for anything else ("²")."""
    digits = raw[1:] if raw.startswith("-") else raw
    return int(raw) if digits.isascii() and digits.isdigit() and len(digits) <= 9 else None


def form_value(p: dict[str, Any], form: Any) -> dict[str, Any]:
    """A judgement value (in displayed positions) from the annotation form fields of project ``p``."""
    tt = p["task_type"]

    def num(key: str) -> int:
        value = _small_int(str(form.get(key, "")).strip())
        if value is None:
            raise InputError(f"choose a value for {key}")
        return value

    if tt == "harm":
        n = min(max(_small_int(str(form.get("n_responses", "0"))) or 0, 0), 64)
        return {
            "ratings": [
                {"harm": num(f"harm_{i}"), "categories": [str(c) for c in form.getlist(f"cat_{i}")]}
                for i in range(n)
            ]
        }
    if tt in ("pairwise", "harm-pairwise"):
        pref = str(form.get("preferred", "")).strip()
        if pref not in ("0", "1", "tie"):
            raise InputError("choose A, B or tie")
        v: dict[str, Any] = {
            "preferred": None if pref == "tie" else int(pref),
            "reason": str(form.get("reason", "")),
        }
        if str(form.get("strength", "")).strip():
            v["strength"] = num("strength")
        if tt == "harm-pairwise":  # the harms seen in the more harmful response
            v["categories"] = [str(c) for c in form.getlist("cat")]
        return v
    if tt == "ranking":
        shown = {k: _small_int(k[5:]) for k in form if k.startswith("rank_")}
        pos = [(num(k), i) for k, i in sorted(shown.items(), key=lambda kv: kv[1] or 0) if i is not None]
        if sorted(r for r, _ in pos) != list(range(1, len(pos) + 1)):
            raise InputError("give every response a different rank (1 = best)")
        return {"ranking": [i for _, i in sorted(pos)]}
    if tt == "rubric":
        n = min(max(_small_int(str(form.get("n_responses", "0"))) or 0, 0), 64)
        return {"scores": [{c: num(f"score_{i}_{c}") for c in p["criteria"]} for i in range(n)]}
    if tt == "rewrite":
        return {"source": num("source"), "rewrite": str(form.get("rewrite", ""))}
    return {"comment": str(form.get("comment_text", ""))}

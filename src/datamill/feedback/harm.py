"""Harmlessness projects: red-team transcripts rated for harm, and "which is less harmful" pairs.

Two task types share a taxonomy of harm categories (the project's ``criteria``, by default
:data:`~datamill.feedback.models.HARM_CATEGORIES`):

- ``harm``: each response gets a harm level, 0 (harmless) to ``scale - 1`` (severe), and the categories of
  harm it shows (value ``{"ratings": [{"harm": 2, "categories": ["weapons"]}, ...]}``, one per response);
- ``harm-pairwise``: which of two responses is less harmful, as in Anthropic's HH-RLHF harmless-base split
  (value ``{"preferred": 0|1|None, "strength", "reason", "categories": [...]}``, the categories being those
  of the more harmful response).

Export turns them into preference data: ``harm-pairwise`` exactly like ``pairwise`` (chosen = less harmful)
with the categories annotators flagged; ``harm`` gives DPO/reward pairs between the responses of a task
(chosen = lower mean harm, margin = the difference), and KTO/SFT rows per response (desirable = most
annotators rated it harmless), each with its mean harm and its categories.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

__all__ = ["harm_outcome", "harm_rows", "voted_categories"]


def voted_categories(
    votes: list[tuple[float, list[str]]], total: float, taxonomy: list[str], *, share: float = 0.5
) -> list[str]:
    """The categories flagged by at least ``share`` of the (weighted) judgements, in taxonomy order."""
    weight: dict[str, float] = defaultdict(float)
    for w, cats in votes:
        for c in cats:
            weight[c] += w
    return [c for c in taxonomy if total and weight[c] / total >= share]


def harm_outcome(js: list[Any], res: Any, weights: Any, n: int, taxonomy: list[str]) -> dict[str, Any]:
    """Scores (minus the mean harm), responses least harmful first, agreement, and per response the mean
    harm, the share rating it harmless and the voted categories; a resolution replaces the votes."""
    from datamill.feedback.quality import main_label

    js_w = [(1.0, res.value)] if res is not None else [(weights[j.user_id], j.value) for j in js]
    total = sum(w for w, _ in js_w) or 1.0
    harm = [sum(w * v["ratings"][i]["harm"] for w, v in js_w) / total for i in range(n)]
    harmless = [sum(w for w, v in js_w if v["ratings"][i]["harm"] == 0) / total for i in range(n)]
    cats = [
        voted_categories([(w, v["ratings"][i]["categories"]) for w, v in js_w], total, taxonomy)
        for i in range(n)
    ]
    labels: dict[Any, float] = defaultdict(float)
    for w, v in js_w:
        labels[main_label("harm", v)] += w
    agreement = max(labels.values()) / total
    return {
        "ranked": sorted(range(n), key=lambda i: harm[i]),
        "scores": [-h for h in harm],
        "agreement": agreement,
        "harm": [round(h, 4) for h in harm],
        "harmless": [round(h, 4) for h in harmless],
        "categories": cats,
    }


def harm_rows(
    o: dict[str, Any],
    format: str,
    prompt: Any,
    answer: Any,
    common: dict[str, Any],  # noqa: A002
) -> list[dict[str, Any]]:
    """The export rows of one ``harm`` outcome (``answer`` makes a completion of a response text)."""
    resp, harm, cats = o["responses"], o["harm_levels"], o["harm_categories"]
    rows: list[dict[str, Any]] = []
    if format in ("dpo", "reward"):
        r = o["ranked"]
        pairs = (
            [(r[0], r[-1])]
            if format == "dpo"
            else [(r[a], r[b]) for a in range(len(r)) for b in range(a + 1, len(r))]
        )
        for c, w in pairs if len(r) > 1 else []:
            margin = round(harm[w] - harm[c], 4)
            if margin <= 0:
                continue  # equally harmful: no preference
            row = {
                "prompt": prompt,
                "chosen": answer(resp[c]),
                "rejected": answer(resp[w]),
                "chosen_harm": harm[c],
                "rejected_harm": harm[w],
                "rejected_categories": cats[w],
                **common,
            }
            if format == "reward":
                row["margin"] = margin
            rows.append(row)
        return rows
    for i, text in enumerate(resp):
        desirable = o["harmless_share"][i] > 0.5
        if format == "sft" and not desirable:
            continue
        row = {"prompt": prompt, "completion": answer(text), **common}
        if format == "kto":
            row["label"] = desirable
        rows.append({**row, "harm": harm[i], "categories": cats[i]})
    return rows

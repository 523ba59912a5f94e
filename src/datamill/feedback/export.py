"""Export judgements as training data: DPO/TRL preference pairs, reward pairs with margins, KTO, SFT, raw.

Votes on a task are aggregated by ``majority`` (one annotator, one vote) or ``gold-weighted``
(each vote weighs the annotator's smoothed accuracy on gold tasks); an admin resolution overrides
the votes. Tasks whose winning share is below ``min_agreement`` (or whose winner is a tie) are left out.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

from datamill.errors import ConfigError
from datamill.feedback.db import Database
from datamill.feedback.harm import harm_outcome, harm_rows, voted_categories
from datamill.feedback.models import PAIRWISE_TYPES
from datamill.feedback.quality import annotator_weights, load_project, main_label

__all__ = ["FORMATS", "POLICIES", "aggregate", "export", "export_preferences", "export_rows"]

FORMATS = ("dpo", "reward", "kto", "sft", "raw")
POLICIES = ("majority", "gold-weighted")


def _check(fmt: str | None, policy: str, min_agreement: float) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; allowed: {', '.join(FORMATS)}")
    if policy not in POLICIES:
        raise ConfigError(f"unknown aggregation policy {policy!r}; allowed: {', '.join(POLICIES)}")
    if not 0.0 <= min_agreement <= 1.0:
        raise ConfigError(
            f"min_agreement must be between 0 and 1, got {min_agreement!r}", params="min_agreement"
        )


def aggregate(
    db: Database,
    project: int | str,
    *,
    policy: str = "majority",
    min_agreement: float = 0.0,
    include_gold: bool = False,
    data: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One outcome per judged task: responses ordered best first (``ranked``), scores, agreement, who judged.

    ``ranked`` holds canonical response indices, best first; ``scores`` a per-response score (higher is better)
    used for reward margins; ``agreement`` the weighted share of votes for the winning label.
    """
    _check(None, policy, min_agreement)
    data = data or load_project(db, project)
    proj, tasks, users = data["project"], data["tasks"], data["users"]
    weights = annotator_weights(data) if policy == "gold-weighted" else defaultdict(lambda: 1.0)
    by_task: dict[int, list[Any]] = defaultdict(list)
    for j in data["judgements"]:
        by_task[j.task_id].append(j)
    out = []
    for tid, js in sorted(by_task.items()):
        task = tasks[tid]
        if task.is_gold and not include_gold:
            continue
        res = data["resolutions"].get(tid)
        outcome = _outcome(proj, len(task.responses), js, res, weights)
        if outcome is None or outcome["agreement"] < min_agreement:
            continue
        out.append(_outcome_row(tid, task, js, res, users, outcome))
    return out


def _outcome(proj: dict[str, Any], n: int, js: list[Any], res: Any, weights: Any) -> dict[str, Any] | None:
    """A task's ranked responses, scores, agreement, rewrites and extra columns; None when no answer won."""
    tt = proj["task_type"]
    if tt == "harm":
        h = harm_outcome(js, res, weights, n, proj["criteria"])
        extra = {
            "harm_levels": h["harm"],
            "harmless_share": h["harmless"],
            "harm_categories": h["categories"],
        }
        return {"ranked": h["ranked"], "agreement": h["agreement"], "scores": h["scores"], "extra": extra}
    if tt in ("pairwise", "ranking", "rubric", "harm-pairwise"):
        return _voted_outcome(proj, n, js, res, weights)
    # rewrite / comment: every judgement counts, no vote
    rewrites = [dict(j.value, judgement_id=j.id) for j in js if "rewrite" in j.value]
    if res is not None and "rewrite" in res.value:
        rewrites = [dict(res.value, judgement_id=None)]
    return {"ranked": list(range(n)), "agreement": 1.0, "scores": [0.0] * n, "rewrites": rewrites}


def _vote_scores(
    tt: str, js: list[Any], weights: Any, n: int, total: float
) -> tuple[dict[Any, float], list[float]]:
    """The weighted votes per main label, and each response's weighted score."""
    votes: dict[Any, float] = defaultdict(float)
    scores = [0.0] * n
    for j in js:
        votes[main_label(tt, j.value)] += weights[j.user_id]
        if tt in PAIRWISE_TYPES:
            p = j.value.get("preferred")
            if p is not None:
                strength = j.value.get("strength") or 1
                scores[p] += weights[j.user_id] * strength / total
                scores[1 - p] -= weights[j.user_id] * strength / total
        elif tt == "ranking":
            for pos, r in enumerate(j.value["ranking"]):
                scores[r] += weights[j.user_id] * (n - 1 - pos) / total
        else:
            for i, sc in enumerate(j.value["scores"]):
                scores[i] += weights[j.user_id] * sum(sc.values()) / len(sc) / total
    return votes, scores


def _voted_outcome(
    proj: dict[str, Any], n: int, js: list[Any], res: Any, weights: Any
) -> dict[str, Any] | None:
    """Pairwise, ranking and rubric tasks: the winning label by weighted vote (or the admin's resolution);
    None for an even split or a pairwise tie (no preference)."""
    tt = proj["task_type"]
    total = sum(weights[j.user_id] for j in js) or 1.0
    votes, scores = _vote_scores(tt, js, weights, n, total)
    if res is not None:
        label, agreement = main_label(tt, res.value), 1.0
        if tt == "ranking":
            scores = [float(n - 1 - res.value["ranking"].index(i)) for i in range(n)]
        elif tt == "rubric":
            scores = [sum(sc.values()) / len(sc) for sc in res.value["scores"]]
    else:
        label, w = max(votes.items(), key=lambda kv: kv[1])
        best = sorted(votes.values(), reverse=True)
        if len(best) > 1 and best[1] == best[0]:
            return None  # no winner: an even split
        agreement = w / total
    if tt in PAIRWISE_TYPES:
        if label == 1:
            return None  # a tie is no preference
        winner = 0 if label == 0 else 1
        ranked = [winner, 1 - winner]
    else:
        ranked = sorted(range(n), key=lambda i: -scores[i])
        if ranked[0] != label and res is None and tt == "ranking":
            ranked = [label] + [i for i in ranked if i != label]
    extra: dict[str, Any] = {}
    if tt == "harm-pairwise":  # the harms flagged in the more harmful response
        flagged = [(1.0, res.value)] if res is not None else [(weights[j.user_id], j.value) for j in js]
        extra = {
            "harm_categories": voted_categories(
                [(w, v.get("categories", [])) for w, v in flagged],
                sum(w for w, _ in flagged),
                proj["criteria"],
            )
        }
    return {"ranked": ranked, "agreement": agreement, "scores": scores, "extra": extra}


def _outcome_row(
    tid: int, task: Any, js: list[Any], res: Any, users: dict[int, str], outcome: dict[str, Any]
) -> dict[str, Any]:
    return {
        "task_id": tid,
        "external_id": task.external_id,
        "prompt": task.prompt,
        "messages": task.messages,
        "responses": task.responses,
        "meta": task.meta,
        "ranked": outcome["ranked"],
        "scores": [round(s, 4) for s in outcome["scores"]],
        "agreement": round(outcome["agreement"], 4),
        "resolved": res is not None,
        "rewrites": outcome.get("rewrites", []),
        "judgement_ids": [j.id for j in js],
        "annotator_ids": [j.user_id for j in js],
        "annotators": [users.get(j.user_id, str(j.user_id)) for j in js],
        **outcome.get("extra", {}),
    }


def _prompt(o: dict[str, Any], chat: bool) -> Any:
    if not chat:
        return o["prompt"]
    msgs = [dict(m) for m in o["messages"]]
    if o["prompt"]:
        msgs.append({"role": "user", "content": o["prompt"]})
    return msgs


def _answer(text: str, chat: bool) -> Any:
    return [{"role": "assistant", "content": text}] if chat else text


def _common(o: dict[str, Any]) -> dict[str, Any]:
    return {
        "task_id": o["external_id"],
        "agreement": o["agreement"],
        "n_judgements": len(o["judgement_ids"]),
        "annotators": o["annotators"],
        "judgement_ids": [str(i) for i in o["judgement_ids"]],
    }


def _pairs(o: dict[str, Any], all_pairs: bool) -> list[tuple[int, int, float]]:
    """(chosen, rejected, margin) index pairs of an outcome: best vs worst, or every ordered pair."""
    r, s = o["ranked"], o["scores"]
    if len(r) < 2:
        return []
    if not all_pairs:
        return [(r[0], r[-1], round(s[r[0]] - s[r[-1]], 4))]
    return [(r[i], r[k], round(s[r[i]] - s[r[k]], 4)) for i in range(len(r)) for k in range(i + 1, len(r))]


def export_rows(
    db: Database,
    project: int | str,
    format: str,
    *,
    policy: str = "majority",  # noqa: A002
    min_agreement: float = 0.0,
    include_gold: bool = False,
) -> list[dict[str, Any]]:
    """Rows of one export format (plain dicts, the columns TRL expects plus provenance columns)."""
    _check(format, policy, min_agreement)
    data = load_project(db, project)
    tt = data["project"]["task_type"]
    if format == "raw":
        return _raw_rows(data, include_gold)
    outcomes = aggregate(
        db, project, policy=policy, min_agreement=min_agreement, include_gold=include_gold, data=data
    )
    chat = any(o["messages"] for o in outcomes)
    rows: list[dict[str, Any]] = []
    for o in outcomes:
        prompt, common = _prompt(o, chat), _common(o)
        if tt == "harm":
            rows.extend(harm_rows(o, format, prompt, lambda text: _answer(text, chat), common))
        elif tt == "rewrite":
            rows.extend(_rewrite_rows(o, format, prompt, chat, common))
        elif tt != "comment":
            if tt == "harm-pairwise":
                common["harm_categories"] = o["harm_categories"]
            rows.extend(_ranked_rows(o, format, tt, prompt, chat, common))
    return rows


def _raw_rows(data: dict[str, Any], include_gold: bool) -> list[dict[str, Any]]:
    """Every judgement as it was given, one row each."""
    tasks, users = data["tasks"], data["users"]
    return [
        {
            "judgement_id": j.id,
            "task_id": tasks[j.task_id].external_id,
            "annotator": users.get(j.user_id),
            "annotator_id": j.user_id,
            "task_type": data["project"]["task_type"],
            "value": j.value,
            "comment": j.comment,
            "order": j.order,
            "seconds": round(j.seconds, 3),
            "gold_correct": j.gold_correct,
            "is_gold": tasks[j.task_id].is_gold,
            "created_at": j.created_at.isoformat(),
        }
        for j in data["judgements"]
        if include_gold or not tasks[j.task_id].is_gold
    ]


def _kto_rows(prompt: Any, good: str, bad: str, chat: bool, common: dict[str, Any]) -> list[dict[str, Any]]:
    """KTO's two unpaired rows: the better answer labelled True, the worse False."""
    return [
        {"prompt": prompt, "completion": _answer(good, chat), "label": True, **common},
        {"prompt": prompt, "completion": _answer(bad, chat), "label": False, **common},
    ]


def _pair_row(
    prompt: Any, chosen: str, rejected: str, chat: bool, common: dict[str, Any], margin: float | None
) -> dict[str, Any]:
    """A preference row (with the reward margin when one is given)."""
    row = {"prompt": prompt, "chosen": _answer(chosen, chat), "rejected": _answer(rejected, chat), **common}
    if margin is not None:
        row["margin"] = margin
    return row


def _rewrite_rows(
    o: dict[str, Any],
    format: str,
    prompt: Any,
    chat: bool,
    common: dict[str, Any],  # noqa: A002
) -> list[dict[str, Any]]:
    """Each distinct rewrite: an SFT completion, or preferred over the response it rewrote."""
    rows: list[dict[str, Any]] = []
    seen = set()
    for rw in o["rewrites"]:
        if rw["rewrite"] in seen:
            continue
        seen.add(rw["rewrite"])
        original = o["responses"][rw["source"]]
        if format == "sft":
            rows.append({"prompt": prompt, "completion": _answer(rw["rewrite"], chat), **common})
        elif rw["rewrite"].strip() == original.strip():
            continue
        elif format == "kto":
            rows.extend(_kto_rows(prompt, rw["rewrite"], original, chat, common))
        else:
            rows.append(
                _pair_row(prompt, rw["rewrite"], original, chat, common, 1.0 if format == "reward" else None)
            )
    return rows


def _ranked_rows(
    o: dict[str, Any],
    format: str,
    tt: str,
    prompt: Any,
    chat: bool,
    common: dict[str, Any],  # noqa: A002
) -> list[dict[str, Any]]:
    """Rows from a ranked outcome: the best answer (sft), best and worst (kto), or preference pairs."""
    resp, ranked = o["responses"], o["ranked"]
    if format == "sft":
        return [{"prompt": prompt, "completion": _answer(resp[ranked[0]], chat), **common}]
    if format == "kto":
        best, worst = ranked[0], ranked[-1]
        return _kto_rows(prompt, resp[best], resp[worst], chat, common) if best != worst else []
    rows = []
    for c, r, margin in _pairs(o, all_pairs=format == "reward"):
        if margin <= 0 and tt == "rubric":
            continue  # equal scores: no preference
        rows.append(_pair_row(prompt, resp[c], resp[r], chat, common, margin if format == "reward" else None))
    return rows


def export_preferences(
    db: Database,
    project: int | str,
    *,
    policy: str = "majority",
    min_agreement: float = 0.0,
    include_gold: bool = False,
) -> list[Any]:
    """DPO pairs as :class:`datamill.records.Preference` with provenance (task id, annotators, judgements)."""
    from datamill.records import Preference, Provenance, stable_id

    proj = load_project(db, project)["project"]
    out = []
    for row in export_rows(
        db, project, "dpo", policy=policy, min_agreement=min_agreement, include_gold=include_gold
    ):
        out.append(
            Preference(
                id=stable_id("feedback", proj["name"], row["task_id"], row["chosen"], row["rejected"]),
                prompt=row["prompt"],
                chosen=row["chosen"],
                rejected=row["rejected"],
                scores={"agreement": row["agreement"]},
                metadata={
                    "project": proj["name"],
                    "task": row["task_id"],
                    "n_judgements": row["n_judgements"],
                },
                provenance=Provenance(
                    source=f"feedback:{proj['name']}",
                    step="feedback.export",
                    parents=[row["task_id"]],
                    annotator=",".join(row["annotators"]),
                    extra={"annotators": row["annotators"], "judgements": row["judgement_ids"]},
                ),
            )
        )
    return out


def export(
    db: Database,
    project: int | str,
    format: str,
    output: str | os.PathLike[str],
    *,  # noqa: A002
    policy: str = "majority",
    min_agreement: float = 0.0,
    include_gold: bool = False,
) -> int:
    """Write an export to ``output`` (``.parquet`` or JSON Lines, optionally .gz/.zst); returns the row count."""
    from datamill.io import write_jsonl, write_parquet

    rows = export_rows(
        db, project, format, policy=policy, min_agreement=min_agreement, include_gold=include_gold
    )
    path = os.fspath(output)
    if path.endswith(".parquet"):
        if format == "raw":  # free-form values: keep Parquet columns typed by storing them as JSON text
            import orjson

            rows = [{**r, "value": orjson.dumps(r["value"]).decode()} for r in rows]
        return write_parquet(rows, path)
    return write_jsonl(rows, path)

"""Project quality: agreement (per project and per annotator pair), annotator stats, disagreements."""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import median
from typing import Any

import numpy as np

from datamill.feedback.agreement import fleiss_kappa, krippendorff_alpha, pairwise_cohen
from datamill.feedback.db import Database
from datamill.feedback.models import PAIRWISE_TYPES

__all__ = [
    "agreement_report",
    "annotator_weights",
    "disagreements",
    "label_name",
    "load_project",
    "main_label",
    "unit_values",
]


def load_project(db: Database, project: int | str) -> dict[str, Any]:
    """Everything quality and export need, read once: project, tasks, judgements, users, resolutions, skips."""
    from sqlalchemy import select

    from datamill.feedback.models import Assignment, Judgement, Resolution, Task, User
    from datamill.feedback.service import get_project

    proj = get_project(db, project)
    pid = proj["id"]
    with db.read() as s:
        tasks = {t.id: t for t in s.scalars(select(Task).where(Task.project_id == pid).order_by(Task.id))}
        judgements = list(
            s.scalars(select(Judgement).where(Judgement.project_id == pid).order_by(Judgement.id))
        )
        users = {u.id: u.username for u in s.scalars(select(User))}
        resolutions = {
            r.task_id: r
            for r in s.scalars(
                select(Resolution).join(Task, Task.id == Resolution.task_id).where(Task.project_id == pid)
            )
        }
        skips = list(
            s.execute(
                select(Assignment.user_id, Assignment.task_id, Assignment.skip_reason).where(
                    Assignment.project_id == pid, Assignment.status == "skipped"
                )
            )
        )
    return {
        "project": proj,
        "tasks": tasks,
        "judgements": judgements,
        "users": users,
        "resolutions": resolutions,
        "skips": skips,
    }


def main_label(task_type: str, value: dict[str, Any]) -> Any:
    """The one categorical label of a judgement used for kappa and majority votes (None if the type has none).

    pairwise (and harm-pairwise: less harmful): 0 = first response better, 1 = tie, 2 = second better;
    ranking: the top response; rubric: the response with the best mean score; harm: the harm levels of the
    responses (a tuple).
    """
    if task_type == "harm":
        return tuple(r["harm"] for r in value["ratings"])
    if task_type in PAIRWISE_TYPES:
        p = value.get("preferred")
        return 1 if p is None else (0 if p == 0 else 2)
    if task_type == "ranking":
        return value["ranking"][0]
    if task_type == "rubric":
        means = [float(np.mean(list(sc.values()))) for sc in value["scores"]]
        return int(np.argmax(means))
    return None


def unit_values(task_type: str, value: dict[str, Any]) -> dict[str, float]:
    """Numeric values per unit of a judgement, for Krippendorff's alpha (unit = task x key)."""
    if task_type == "harm":
        return {f"{i}:harm": float(r["harm"]) for i, r in enumerate(value["ratings"])}
    if task_type in PAIRWISE_TYPES:
        return {"pref": float(main_label(task_type, value))}
    if task_type == "ranking":
        return {f"rank{r}": float(pos) for pos, r in enumerate(value["ranking"])}
    if task_type == "rubric":
        return {f"{i}:{c}": float(v) for i, sc in enumerate(value["scores"]) for c, v in sc.items()}
    return {}


def annotator_weights(data: dict[str, Any]) -> dict[int, float]:
    """Gold-based weight per annotator: Laplace-smoothed accuracy (correct + 1) / (gold + 2)."""
    n: Counter[int] = Counter()
    ok: Counter[int] = Counter()
    for j in data["judgements"]:
        if j.gold_correct is not None:
            n[j.user_id] += 1
            ok[j.user_id] += int(j.gold_correct)
    return {u: (ok[u] + 1) / (n[u] + 2) for u in data["users"]}


def _levels(task_type: str) -> tuple[str, ...]:
    if task_type == "harm":
        return ("ordinal", "interval")
    if task_type in PAIRWISE_TYPES:
        return ("nominal", "ordinal", "interval")
    if task_type == "ranking":
        return ("ordinal", "interval")
    if task_type == "rubric":
        return ("ordinal", "interval", "ratio")
    return ()


def _finite(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def agreement_report(
    db: Database, project: int | str, *, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Agreement of a project's (non-gold) judgements and per-annotator statistics.

    Returns ``alpha`` (Krippendorff by level), ``fleiss`` (on tasks rated by the most common number of
    annotators), ``pairs`` (Cohen's kappa per annotator pair), ``annotators`` (judgements, time, gold accuracy,
    skips, agreement with the majority) and counts.
    """
    data = data or load_project(db, project)
    proj, tasks, users = data["project"], data["tasks"], data["users"]
    tt = proj["task_type"]
    regular = [j for j in data["judgements"] if not tasks[j.task_id].is_gold]
    by_task: dict[int, list[Any]] = defaultdict(list)
    for j in regular:
        by_task[j.task_id].append(j)
    alpha = _alpha(tt, regular)
    labelled = tt in ("pairwise", "ranking", "rubric", "harm", "harm-pairwise")
    fleiss = _fleiss(tt, by_task, regular) if labelled else None
    majority = _majority(tt, by_task) if labelled else {}
    labels: dict[str, dict[int, Any]] = defaultdict(dict)
    if labelled:
        for j in regular:
            labels[users[j.user_id]][j.task_id] = main_label(tt, j.value)
    pairs = [
        {**p, "kappa": _finite(p["kappa"]), "agreement": _finite(p["agreement"])}
        for p in pairwise_cohen(labels, min_items=2)
    ]
    n_tasks = sum(1 for t in tasks.values() if not t.is_gold)
    done = sum(1 for t, js in by_task.items() if len(js) >= proj["overlap"])
    return {
        "project": proj["name"],
        "task_type": tt,
        "tasks": n_tasks,
        "gold_tasks": sum(1 for t in tasks.values() if t.is_gold),
        "judgements": len(data["judgements"]),
        "completed_tasks": done,
        "skips": len(data["skips"]),
        "alpha": alpha,
        "fleiss": fleiss,
        "pairs": pairs,
        "annotators": _annotator_stats(data, tt, majority),
        "label_counts": {
            label_name(tt, k): v
            for k, v in sorted(
                Counter(main_label(tt, j.value) for j in regular).items(), key=lambda kv: repr(kv[0])
            )
        }
        if labelled
        else {},
    }


def _alpha(tt: str, regular: list[Any]) -> dict[str, float | None]:
    """Krippendorff's alpha at each level of measurement the task type has, over an annotator x unit matrix."""
    alpha: dict[str, float | None] = {}
    if not _levels(tt):
        return alpha
    annot = sorted({j.user_id for j in regular})
    row = {u: i for i, u in enumerate(annot)}
    cols: dict[tuple[int, str], int] = {}
    cells: list[tuple[int, int, float]] = []
    for j in regular:
        for key, v in unit_values(tt, j.value).items():
            c = cols.setdefault((j.task_id, key), len(cols))
            cells.append((row[j.user_id], c, v))
    if cells:
        m = np.full((len(annot), len(cols)), np.nan)
        for r, c, v in cells:
            m[r, c] = v
        for level in _levels(tt):
            alpha[level] = _finite(krippendorff_alpha(m, level=level))
    return alpha


def _fleiss(tt: str, by_task: dict[int, list[Any]], regular: list[Any]) -> dict[str, Any] | None:
    """Fleiss' kappa of the main labels over the tasks judged by the most common number (>= 2) of annotators."""
    sizes = Counter(len(js) for js in by_task.values() if len(js) >= 2)
    if not sizes:
        return None
    k = sizes.most_common(1)[0][0]
    cats = sorted({main_label(tt, j.value) for j in regular})
    idx = {c: i for i, c in enumerate(cats)}
    rows = []
    for js in by_task.values():
        if len(js) == k:
            counts = np.zeros(len(cats))
            for j in js:
                counts[idx[main_label(tt, j.value)]] += 1
            rows.append(counts)
    table = np.array(rows)
    return {"kappa": _finite(fleiss_kappa(table)), "tasks": len(rows), "raters_per_task": k}


def _majority(tt: str, by_task: dict[int, list[Any]]) -> dict[int, Any]:
    """The main label a strict majority gave, per task judged at least twice."""
    majority: dict[int, Any] = {}
    for t, js in by_task.items():
        votes = Counter(main_label(tt, j.value) for j in js)
        top = votes.most_common(2)
        if len(js) >= 2 and (len(top) == 1 or top[0][1] > top[1][1]):
            majority[t] = top[0][0]
    return majority


def _annotator_stats(data: dict[str, Any], tt: str, majority: dict[int, Any]) -> list[dict[str, Any]]:
    """Per annotator (anyone who judged or skipped): judgements, skips, time, gold accuracy, majority agreement."""
    users = data["users"]
    per: list[dict[str, Any]] = []
    for u in sorted({j.user_id for j in data["judgements"]} | {s[0] for s in data["skips"]}):
        mine = [j for j in data["judgements"] if j.user_id == u]
        gold = [j for j in mine if j.gold_correct is not None]
        secs = [j.seconds for j in mine]
        agree = [main_label(tt, j.value) == majority[j.task_id] for j in mine if j.task_id in majority]
        per.append(
            {
                "annotator": users.get(u, str(u)),
                "user_id": u,
                "judgements": len(mine),
                "skips": sum(1 for s in data["skips"] if s[0] == u),
                "median_seconds": round(median(secs), 2) if secs else None,
                "total_seconds": round(sum(secs), 1),
                "gold_judged": len(gold),
                "gold_accuracy": round(sum(j.gold_correct for j in gold) / len(gold), 4) if gold else None,
                "majority_agreement": round(sum(agree) / len(agree), 4) if agree else None,
            }
        )
    return per


def label_name(task_type: str, label: Any) -> str:
    """A readable name of a main label (responses numbered in file order from 0)."""
    if task_type == "harm":
        return "harm " + "/".join(str(h) for h in label)
    if task_type in PAIRWISE_TYPES:
        better = "less harmful" if task_type == "harm-pairwise" else "better"
        return {0: f"response 0 {better}", 1: "tie", 2: f"response 1 {better}"}.get(label, str(label))
    return f"response {label} best"


def disagreements(
    db: Database, project: int | str, *, data: dict[str, Any] | None = None, include_resolved: bool = True
) -> list[dict[str, Any]]:
    """Tasks whose judgements disagree (different main labels, rubric scores 2+ points apart; harm: harmless
    against harmful, or harm levels 2+ apart)."""
    data = data or load_project(db, project)
    proj, tasks, users = data["project"], data["tasks"], data["users"]
    tt = proj["task_type"]
    by_task: dict[int, list[Any]] = defaultdict(list)
    for j in data["judgements"]:
        by_task[j.task_id].append(j)
    out = []
    for tid, js in sorted(by_task.items()):
        if len(js) < 2 or tt in ("rewrite", "comment"):
            continue
        labs = {repr(main_label(tt, j.value)) for j in js}
        if tt == "harm":  # harmless against harmful, or levels 2+ apart (below)
            labs = {repr(tuple(r["harm"] > 0 for r in j.value["ratings"])) for j in js}
        spread = 0.0
        if tt in ("rubric", "harm"):
            vals = [unit_values(tt, j.value) for j in js]
            spread = max(max(v[k] for v in vals) - min(v[k] for v in vals) for k in vals[0])
        if len(labs) < 2 and spread < 2:
            continue
        res = data["resolutions"].get(tid)
        if res is not None and not include_resolved:
            continue
        t = tasks[tid]
        out.append(
            {
                "task_id": tid,
                "external_id": t.external_id,
                "prompt": t.prompt,
                "messages": t.messages,
                "responses": t.responses,
                "is_gold": t.is_gold,
                "judgements": [
                    {
                        "id": j.id,
                        "annotator": users.get(j.user_id),
                        "value": j.value,
                        "label": main_label(tt, j.value),
                        "comment": j.comment,
                    }
                    for j in js
                ],
                "resolution": res.value if res is not None else None,
            }
        )
    return out

"""People check a teacher's rubric scores in the feedback app, and agreement is measured.

:func:`send_for_review` imports a share of the labelled rows into a ``rubric`` project (one criterion:
the rubric's name; the app's 1..scale points are the rubric's ``min_score..max_score``), without the
teacher's score. :func:`teacher_agreement` reads the people's judgements back and compares them with
the teacher's labels: exact and within-one agreement, Cohen's kappa (unweighted and quadratic) and
Spearman's correlation.
"""

from __future__ import annotations

import os
from typing import Any

import xxhash

from datamill.errors import ConfigError, InputError, NotFoundError
from datamill.pretrain.rubrics import Rubric
from datamill.records import Example, Record

__all__ = ["send_for_review", "teacher_agreement"]


def _guidelines(rubric: Rubric) -> str:
    prompt = rubric.render("(the document shown as the response)")
    return (
        f"Score the document shown as the response with this rubric ({rubric.name}). The app's point 1 is "
        f"a score of {rubric.min_score:g}, and each point above it adds one.\n\n" + prompt
    )


def send_for_review(
    rows: list[Record], rubric: Rubric, *, db: str | None, project: str, share: float, seed: int = 0
) -> dict[str, Any]:
    """Import ``share`` of ``rows`` (chosen by hash, so the same rows each run) into the rubric project
    ``project`` of the feedback database ``db`` (created if missing); returns what was sent."""
    from datamill.feedback.db import Database
    from datamill.feedback.service import add_tasks, create_project, get_project

    scale = int(rubric.max_score - rubric.min_score) + 1
    if not 2 <= scale <= 10:
        raise ConfigError(f"a rubric of {scale} points cannot be a feedback project (2..10 points)")
    chosen = [
        r for r in rows if xxhash.xxh64_intdigest(f"review\x1f{seed}\x1f{r.id}".encode()) / 2**64 < share
    ]
    database = Database(db)
    try:
        proj = get_project(database, project)
    except NotFoundError:
        proj = create_project(
            database,
            project,
            task_type="rubric",
            criteria=[rubric.name],
            scale=scale,
            guidelines=_guidelines(rubric),
        )
    if proj["task_type"] != "rubric" or proj["criteria"] != [rubric.name]:
        raise ConfigError(f"feedback project {project!r} is not a rubric project scoring {rubric.name!r}")
    tasks = [
        (
            i + 1,
            {
                "id": r.id,
                "prompt": f"How would you score this document for {rubric.name}?",
                "responses": [r.input if isinstance(r, Example) else ""],
                "metadata": {"document_id": r.metadata.get("document_id"), "url": r.metadata.get("url")},
            },
        )
        for i, r in enumerate(chosen)
    ]
    n = add_tasks(database, proj["id"], tasks, source="annotate", what="row") if tasks else 0
    return {"project": proj["name"], "tasks": n, "share": share, "database": database.url.split("@")[-1]}


def teacher_agreement(
    labels: str | os.PathLike[str], *, db: str | None = None, project: str
) -> dict[str, Any]:
    """Agreement between the teacher's labels (``annotate``'s output) and people's judgements in the
    feedback ``project``: one pair per judgement of a labelled row."""
    from sqlalchemy import select

    from datamill.feedback.agreement import cohen_kappa
    from datamill.feedback.db import Database
    from datamill.feedback.models import Judgement, Task
    from datamill.feedback.service import get_project
    from datamill.io import read_records

    teacher = {r.id: r for r in read_records(labels) if isinstance(r, Example)}
    database = Database(db)
    proj = get_project(database, project)
    if proj["task_type"] != "rubric" or len(proj["criteria"]) != 1:
        raise ConfigError(f"project {project!r} is not a one-criterion rubric project made by annotate")
    crit = proj["criteria"][0]
    with database.read() as s:
        rows = s.execute(
            select(Task.external_id, Judgement.value)
            .join(Judgement, Judgement.task_id == Task.id)
            .where(Task.project_id == proj["id"])
        ).all()
    pairs: list[tuple[float, float]] = []
    for ext, value in rows:
        rec = teacher.get(ext)
        if rec is None:
            continue
        lo = float((rec.metadata.get("score_range") or [0])[0])
        pairs.append((float(rec.label), lo + float(value["scores"][0][crit]) - 1))
    if not pairs:
        raise InputError(
            f"no judgement in project {project!r} is of a row in these labels", path=os.fspath(labels)
        )
    t = [a for a, _ in pairs]
    h = [b for _, b in pairs]
    out: dict[str, Any] = {
        "project": proj["name"],
        "judgements": len(pairs),
        "rows": len({ext for ext, _ in rows if ext in teacher}),
        "exact": sum(a == b for a, b in pairs) / len(pairs),
        "within_one": sum(abs(a - b) <= 1 for a, b in pairs) / len(pairs),
        "cohen_kappa": cohen_kappa(t, h),
        "teacher_mean": sum(t) / len(t),
        "human_mean": sum(h) / len(h),
    }
    if len(set(t)) > 1 and len(set(h)) > 1:
        from scipy.stats import spearmanr
        from sklearn.metrics import cohen_kappa_score

        out["quadratic_kappa"] = float(
            cohen_kappa_score([round(x) for x in t], [round(x) for x in h], weights="quadratic")
        )
        out["spearman"] = float(spearmanr(t, h).statistic)
    return out

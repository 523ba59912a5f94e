"""Simulated annotation: a demo project judged by seeded synthetic annotators (quickstart, journeys, tests)."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable
from typing import Any

from datamill.errors import InputError

__all__ = ["simulate_project"]


def _row(rec: Any, n: int) -> tuple[dict[str, Any], int]:
    """A task row and the index of the truly better response."""
    from datamill.records import Message, Preference, Record

    def plain(v: Any) -> Any:
        if isinstance(v, list):
            return [m.to_dict() if isinstance(m, Message) else m for m in v]
        return v

    if isinstance(rec, Preference):
        return {
            "id": rec.id,
            "prompt": plain(rec.prompt),
            "responses": [plain(rec.chosen), plain(rec.rejected)],
            "metadata": rec.metadata,
        }, 0
    data = rec.to_dict() if isinstance(rec, Record) else rec
    if not isinstance(data, dict):
        raise InputError(f"record {n}: expected a Preference or a dict with prompt and responses")
    if "chosen" in data and "rejected" in data:
        return {k: data[k] for k in ("id", "prompt", "chosen", "rejected", "metadata") if k in data}, 0
    responses = data.get("responses")
    if not isinstance(responses, list) or len(responses) < 2:
        raise InputError(f"record {n}: needs 'responses' (2 or more) or chosen/rejected")
    scores = data.get("scores")
    if isinstance(scores, list) and len(scores) == len(responses):
        best = max(range(len(responses)), key=lambda i: scores[i])
    else:  # no known quality: the longer answer stands in as the better one
        best = max(range(len(responses)), key=lambda i: len(str(responses[i])))
    row = {k: data[k] for k in ("id", "prompt", "messages", "metadata") if k in data}
    row["responses"] = responses[:2]
    return row, best if best < 2 else 0


def simulate_project(
    db_url: str,
    records: Iterable[Any],
    *,
    annotators: int = 3,
    seed: int = 0,
    noise: float = 0.15,
    project: str | None = None,
    policy: str = "majority",
    min_agreement: float = 0.0,
) -> list[Any]:
    """Create a pairwise project from ``records``, let ``annotators`` seeded annotators judge every task, export DPO.

    Args:
        db_url: database URL (``sqlite:///file.db`` or PostgreSQL); migrated if new.
        records: :class:`~datamill.records.Preference` records (chosen is the truth) or dicts with ``prompt`` and
            ``responses`` (optional ``scores`` mark the better one; otherwise the longer response).
        annotators: simulated annotators; each task is judged by all of them (overlap = annotators).
        seed: makes every annotator's choices reproducible.
        noise: chance that an annotator prefers the worse response.
        project: project name (default ``simulated``, suffixed when taken).
        policy: export aggregation, majority or gold-weighted.
        min_agreement: leave out pairs whose winning share is lower.

    Returns:
        The exported DPO pairs as Preference records; provenance parents = source record ids, ``extra`` holds
        annotator names and judgement ids.
    """
    from datamill.feedback.db import Database
    from datamill.feedback.export import export_preferences

    if annotators < 1:
        raise InputError(f"annotators must be >= 1, got {annotators}")
    rows, truth = [], {}
    for n, rec in enumerate(records, 1):
        row, best = _row(rec, n)
        rows.append((n, row))
        truth[n] = best
    db = Database(db_url)
    try:
        proj, better = _create_project(db, project, annotators, rows, truth)
        users = _annotators(db, proj, annotators)
        _annotate(db, proj, users, better, seed=seed, noise=noise)
        return export_preferences(db, proj["id"], policy=policy, min_agreement=min_agreement)
    finally:
        db.dispose()


def _create_project(
    db: Any, project: str | None, annotators: int, rows: list[tuple[int, Any]], truth: dict[int, int]
) -> tuple[dict[str, Any], dict[int, int]]:
    """The pairwise project holding ``rows`` (named ``project``, else the first free ``simulated[-k]``), and
    the better response of each of its tasks by task id."""
    from sqlalchemy import select

    from datamill.feedback.models import Task
    from datamill.feedback.service import add_tasks, create_project, list_projects, parse_task_row

    taken = {p["name"] for p in list_projects(db)}
    name = project or "simulated"
    if project is None:
        k = 2
        while name in taken:
            name, k = f"simulated-{k}", k + 1
    proj = create_project(
        db,
        name,
        task_type="pairwise",
        overlap=annotators,
        guidelines="Simulated annotators: prefer the more helpful, correct answer.",
    )
    add_tasks(db, proj["id"], rows, source="<records>", what="record")
    with db.read() as s:
        ids = dict(s.execute(select(Task.external_id, Task.id).where(Task.project_id == proj["id"])).all())
    return proj, {ids[parse_task_row(proj, row)["external_id"]]: truth[n] for n, row in rows}


def _annotators(db: Any, proj: dict[str, Any], annotators: int) -> list[int]:
    """``annotators`` new users (``<project>-annotator-<i>``), members of the project."""
    from datamill.feedback.service import add_member, create_user

    users = [
        create_user(db, f"{proj['name']}-annotator-{i + 1}", secrets.token_urlsafe(12))["id"]
        for i in range(annotators)
    ]
    for u in users:
        add_member(db, proj["id"], u)
    return users


def _annotate(
    db: Any, proj: dict[str, Any], users: list[int], better: dict[int, int], *, seed: int, noise: float
) -> None:
    """Each annotator in turn takes its next task and prefers the better response, or the worse one with
    probability ``noise`` (seeded per annotator), until no one has a task left."""
    from datamill.feedback.service import next_task, submit

    rngs = {u: random.Random(f"{seed}:{i}") for i, u in enumerate(users)}
    active = list(users)
    while active:
        for u in list(active):
            task = next_task(db, u, proj["id"])
            if task is None:
                active.remove(u)
                continue
            best = better[task["task_id"]]
            rng = rngs[u]
            pick = best if rng.random() >= noise else 1 - best
            submit(
                db,
                u,
                task["task_id"],
                client_key=f"simulated-{u}-{task['task_id']}",
                value={"preferred": pick, "strength": rng.randint(1, 3), "reason": "simulated"},
            )

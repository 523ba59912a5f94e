"""Judgements as stored: listing, one by id (annotators see their own), and an admin's final resolution."""

from __future__ import annotations

from typing import Any

from datamill.errors import ForbiddenError, NotFoundError
from datamill.feedback.db import Database
from datamill.feedback.models import Judgement, Resolution, Task, User, utcnow
from datamill.feedback.service.members import can_access
from datamill.feedback.service.projects import get_project
from datamill.feedback.service.values import check_value
from datamill.feedback.textsafe import check_text

__all__ = ["get_judgement_for", "judgement_dict", "list_judgements", "resolve"]


def judgement_dict(j: Judgement, username: str | None = None) -> dict[str, Any]:
    return {
        "id": j.id,
        "task_id": j.task_id,
        "project_id": j.project_id,
        "user_id": j.user_id,
        "annotator": username,
        "client_key": j.client_key,
        "value": j.value,
        "comment": j.comment,
        "order": j.order,
        "seconds": round(j.seconds, 3),
        "gold_correct": j.gold_correct,
        "created_at": j.created_at.isoformat(),
    }


def list_judgements(db: Database, project: int | str, *, user_id: int | None = None) -> list[dict[str, Any]]:
    from sqlalchemy import select

    pid = get_project(db, project)["id"]
    with db.read() as s:
        q = (
            select(Judgement, User.username)
            .join(User, User.id == Judgement.user_id)
            .where(Judgement.project_id == pid)
        )
        if user_id is not None:
            q = q.where(Judgement.user_id == user_id)
        return [judgement_dict(j, name) for j, name in s.execute(q.order_by(Judgement.id))]


def get_judgement_for(db: Database, user: User, judgement_id: int) -> dict[str, Any]:
    with db.read() as s:
        j = s.get(Judgement, judgement_id)
        if j is None or not can_access(db, user.id, j.project_id):
            raise NotFoundError(f"no judgement {judgement_id}")
        if user.role == "annotator" and j.user_id != user.id:
            raise ForbiddenError("you can only see your own judgements")
        return judgement_dict(j)


def resolve(db: Database, user_id: int, task_id: int, *, value: Any, note: str = "") -> dict[str, Any]:
    """Set (or replace) the final answer of a task; export uses it instead of the aggregated votes."""
    from sqlalchemy import select

    check_text(value=value, note=note)
    with db.write() as s:
        task = s.get(Task, task_id)
        if task is None:
            raise NotFoundError(f"no task {task_id}")
        proj = get_project(db, task.project_id)
        value = check_value(proj, len(task.responses), value)
        r = s.scalar(select(Resolution).where(Resolution.task_id == task_id))
        if r is None:
            r = Resolution(task_id=task_id, user_id=user_id, value=value, note=note[:5000])
            s.add(r)
        else:
            r.value, r.note, r.user_id, r.created_at = value, note[:5000], user_id, utcnow()
        s.flush()
        return {"task_id": task_id, "project_id": task.project_id, "value": value, "note": r.note}

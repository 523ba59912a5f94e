"""Projects: create, look up (cached per Database), list."""

from __future__ import annotations

from typing import Any

from datamill.errors import ConfigError, ConflictError, NotFoundError
from datamill.feedback.db import Database
from datamill.feedback.models import (
    HARM_CATEGORIES,
    HARM_TYPES,
    TASK_TYPES,
    Judgement,
    Project,
    Task,
    row_id,
)
from datamill.feedback.textsafe import check_text

__all__ = [
    "DEFAULT_CRITERIA",
    "create_project",
    "get_project",
    "list_projects",
    "project_dict",
    "project_progress",
    "queue_progress",
]

DEFAULT_CRITERIA = ["helpfulness", "harmlessness", "honesty"]
#: limits of a project, the same for the API, the form and the library
MAX_CRITERIA, MAX_CRITERION_CHARS, MAX_GUIDELINES_CHARS = 20, 64, 200_000


def project_dict(p: Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "task_type": p.task_type,
        "guidelines": p.guidelines,
        "overlap": p.overlap,
        "gold_rate": p.gold_rate,
        "criteria": list(p.criteria or []),
        "scale": p.scale,
    }


def create_project(
    db: Database,
    name: str,
    *,
    task_type: str = "pairwise",
    guidelines: str = "",
    overlap: int = 1,
    gold_rate: float = 0.0,
    criteria: list[str] | None = None,
    scale: int = 5,
) -> dict[str, Any]:
    """Create a project.

    Args:
        name: unique project name.
        task_type: pairwise, ranking, rubric, rewrite, comment, harm (rate each response's harm 0..scale-1
            and tick its harm categories) or harm-pairwise (which of two responses is less harmful, and the
            categories of harm in the other).
        guidelines: Markdown shown to annotators.
        overlap: how many annotators judge each (non-gold) task.
        gold_rate: share of an annotator's tasks drawn from gold tasks (0..1).
        criteria: rubric criteria (Likert items), default helpfulness/harmlessness/honesty; for the harm
            types the harm categories, default :data:`~datamill.feedback.models.HARM_CATEGORIES`.
        scale: points of the Likert scale (2..10); for ``harm`` the harm levels 0..scale-1.
    """
    from sqlalchemy.exc import IntegrityError

    check_text(name=name, guidelines=guidelines, criteria=criteria)
    name = name.strip()
    if not name or len(name) > 128:
        raise ConfigError("project name must have 1-128 characters")
    if task_type not in TASK_TYPES:
        raise ConfigError(f"unknown task type {task_type!r}; allowed: {', '.join(TASK_TYPES)}")
    if not 1 <= overlap <= 100:
        raise ConfigError(f"overlap must be 1..100, got {overlap!r}", params="overlap")
    if not 0.0 <= gold_rate <= 1.0:
        raise ConfigError(f"gold_rate must be between 0 and 1, got {gold_rate!r}", params="gold_rate")
    if not 2 <= scale <= 10:
        raise ConfigError(f"scale must be 2..10, got {scale!r}", params="scale")
    harm = task_type in HARM_TYPES
    crit = [c.strip() for c in (criteria or (HARM_CATEGORIES if harm else DEFAULT_CRITERIA)) if c.strip()]
    if task_type == "rubric" and not crit:
        raise ConfigError("a rubric project needs at least one criterion")
    if len(set(crit)) != len(crit):
        raise ConfigError(f"criteria must be distinct, got {crit}")
    if len(crit) > MAX_CRITERIA or any(len(c) > MAX_CRITERION_CHARS for c in crit):
        raise ConfigError(
            f"a project has at most {MAX_CRITERIA} criteria of at most {MAX_CRITERION_CHARS} characters each, "
            f"got {len(crit)}",
            params="criteria",
        )
    if len(guidelines) > MAX_GUIDELINES_CHARS:
        raise ConfigError(f"guidelines have at most {MAX_GUIDELINES_CHARS} characters", params="guidelines")
    try:
        with db.write() as s:
            p = Project(
                name=name,
                task_type=task_type,
                guidelines=guidelines,
                overlap=overlap,
                gold_rate=gold_rate,
                criteria=crit if task_type == "rubric" or harm else [],
                scale=scale,
            )
            s.add(p)
            s.flush()
            return project_dict(p)
    except IntegrityError:
        raise ConflictError(f"project {name!r} already exists") from None


def get_project(db: Database, ref: int | str) -> dict[str, Any]:
    """A project by id or name (projects never change after creation, so they are cached per Database)."""
    from sqlalchemy import select

    key = ref if isinstance(ref, int) else str(ref)
    hit = db.cache.get(("project", key))
    if hit is not None:
        return dict(hit)
    with db.read() as s:
        p = None
        # a number past what both databases' ids hold can only be a name (the driver would overflow)
        if (pid := row_id(ref)) is not None:
            p = s.get(Project, pid)
        if p is None:
            p = s.scalar(select(Project).where(Project.name == str(ref)))
    if p is None:
        raise NotFoundError(f"no project {ref!r}")
    out = project_dict(p)
    if len(db.cache) < 10_000:
        db.cache[("project", key)] = out
    return dict(out)


def list_projects(db: Database, *, user_id: int | None = None) -> list[dict[str, Any]]:
    """All projects, or those user ``user_id`` may see (every one for an admin, else their memberships)."""
    from sqlalchemy import select

    with db.read() as s:
        projects = [project_dict(p) for p in s.scalars(select(Project).order_by(Project.id))]
    if user_id is None:
        return projects
    from datamill.feedback.service.members import visible_projects

    return visible_projects(db, user_id, projects)


def project_progress(db: Database, user_id: int) -> list[dict[str, Any]]:
    """The projects the user may see with their number of ``tasks`` and of the user's judgements (``mine``)."""
    from sqlalchemy import func, select

    projects = list_projects(db, user_id=user_id)
    with db.read() as s:
        mine = dict(
            s.execute(
                select(Judgement.project_id, func.count())
                .where(Judgement.user_id == user_id)
                .group_by(Judgement.project_id)
            ).all()
        )
        total = dict(s.execute(select(Task.project_id, func.count()).group_by(Task.project_id)).all())
    return [{**p, "mine": mine.get(p["id"], 0), "tasks": total.get(p["id"], 0)} for p in projects]


def queue_progress(db: Database, user_id: int, project: int | str) -> dict[str, Any]:
    """How far an annotator is through a project: tasks ``judged``, ``skipped``, ``remaining`` (their open
    task and the tasks they may still be handed; gold tasks come on top), ``total``, and ``last`` (the
    external id and time of their latest judgement, or None)."""
    from sqlalchemy import exists, func, select

    from datamill.feedback.models import Assignment

    p = get_project(db, project)
    with db.read() as s:
        status = dict(
            s.execute(
                select(Assignment.status, func.count())
                .where(Assignment.user_id == user_id, Assignment.project_id == p["id"])
                .group_by(Assignment.status)
            ).all()
        )
        mine = exists().where(Assignment.task_id == Task.id, Assignment.user_id == user_id)
        free = s.scalar(
            select(func.count()).where(
                Task.project_id == p["id"], Task.is_gold.is_(False), Task.n_assigned < p["overlap"], ~mine
            )
        )
        last = s.execute(
            select(Task.external_id, Judgement.created_at)
            .join(Task, Task.id == Judgement.task_id)
            .where(Judgement.user_id == user_id, Judgement.project_id == p["id"])
            .order_by(Judgement.id.desc())
            .limit(1)
        ).first()
    judged, skipped = status.get("done", 0), status.get("skipped", 0)
    remaining = status.get("open", 0) + (free or 0)
    return {
        "judged": judged,
        "skipped": skipped,
        "remaining": remaining,
        "total": judged + skipped + remaining,
        "last": {"task": last[0], "at": last[1].isoformat(timespec="seconds")} if last else None,
    }

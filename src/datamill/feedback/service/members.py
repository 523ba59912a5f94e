"""Project membership: which projects a non-admin user may see, take tasks from and (reviewers) export.

Admins see every project. Anyone else sees only the projects they are a member of; any other project is
answered as if it did not exist (``NotFoundError``, a 404), so ids cannot be probed. The queue, submit and
skip check it too, so a removed member loses the project at once (their open tasks go back to the pool).

The access of a user is remembered for ``ACCESS_CACHE_SECONDS`` per process (one query less per request);
a change made in this process takes effect at once, one made by another worker within that time.
"""

from __future__ import annotations

import time
from typing import Any

from datamill.errors import ConfigError, NotFoundError
from datamill.feedback.db import Database
from datamill.feedback.models import Assignment, Membership, Task, User, row_id, utcnow
from datamill.feedback.service.projects import get_project

__all__ = [
    "ACCESS_CACHE_SECONDS",
    "add_member",
    "can_access",
    "check_access",
    "forget_access",
    "list_members",
    "project_for",
    "remove_member",
    "visible_projects",
]

ACCESS_CACHE_SECONDS = 10.0


def _access(db: Database, user_id: int) -> tuple[bool, frozenset[int]]:
    """(is an active admin, ids of the projects the user is a member of), cached briefly."""
    from sqlalchemy import select

    key = ("access", user_id)
    hit = db.cache.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1], hit[2]
    with db.read() as s:
        user = s.get(User, user_id)
        admin = user is not None and user.active and user.role == "admin"
        pids = frozenset(s.scalars(select(Membership.project_id).where(Membership.user_id == user_id)))
    if user is None or not user.active:
        pids = frozenset()
    if len(db.cache) < 10_000:
        db.cache[key] = (time.monotonic() + ACCESS_CACHE_SECONDS, admin, pids)
    return admin, pids


def forget_access(db: Database, user_id: int | None = None) -> None:
    """Drop the remembered access of one user (or everyone's) after a change."""
    for key in [k for k in db.cache if isinstance(k, tuple) and k and k[0] == "access"]:
        if user_id is None or key[1] == user_id:
            db.cache.pop(key, None)


def can_access(db: Database, user_id: int, project_id: int) -> bool:
    """Whether the user is an admin or a member of the project."""
    admin, pids = _access(db, user_id)
    return admin or project_id in pids


def check_access(db: Database, user_id: int, project_id: int, ref: Any = None) -> None:
    """Refuse (404, as for a project that does not exist) a user who may not see the project."""
    if not can_access(db, user_id, project_id):
        raise NotFoundError(f"no project {ref if ref is not None else project_id!r}")


def project_for(db: Database, user: User, ref: int | str) -> dict[str, Any]:
    """The project ``ref`` (id or name) if ``user`` may see it, else NotFoundError (the same 404 as a
    project that does not exist)."""
    p = get_project(db, ref)
    check_access(db, user.id, p["id"], ref)
    return p


def visible_projects(db: Database, user_id: int, projects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The projects of ``projects`` the user may see."""
    admin, pids = _access(db, user_id)
    return projects if admin else [p for p in projects if p["id"] in pids]


def _user(s: Any, ref: int | str) -> User:
    from sqlalchemy import select

    user = None
    if (uid := row_id(ref)) is not None:
        user = s.get(User, uid)
    if user is None:
        user = s.scalar(select(User).where(User.username == str(ref)))
    if user is None:
        raise NotFoundError(f"no user {ref!r}")
    return user


def list_members(db: Database, project: int | str) -> list[dict[str, Any]]:
    """The project's members: id, username, role, active, since."""
    from sqlalchemy import select

    pid = get_project(db, project)["id"]
    with db.read() as s:
        rows = s.execute(
            select(User, Membership.created_at)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.project_id == pid)
            .order_by(User.username)
        ).all()
    return [
        {"id": u.id, "username": u.username, "role": u.role, "active": u.active, "since": t.isoformat()}
        for u, t in rows
    ]


def add_member(db: Database, project: int | str, user: int | str) -> dict[str, Any]:
    """Make a user (id or username) a member of a project; returns ``{"project", "user", "added"}``
    (``added`` False when they already were). Admins need no membership: adding one is an error."""
    pid = get_project(db, project)["id"]
    with db.write() as s:
        u = _user(s, user)
        if u.role == "admin":
            raise ConfigError(
                f"{u.username!r} is an admin and sees every project; add annotators or reviewers"
            )
        added = s.get(Membership, (pid, u.id)) is None
        if added:
            s.add(Membership(project_id=pid, user_id=u.id, created_at=utcnow()))
        uid, name = u.id, u.username
    forget_access(db, uid)
    return {"project": pid, "user": name, "user_id": uid, "added": added}


def remove_member(db: Database, project: int | str, user: int | str) -> dict[str, Any]:
    """Take a user's membership of a project away; their open tasks there go back to the pool.

    Returns ``{"project", "user", "released"}`` (open tasks released); NotFoundError if not a member."""
    from sqlalchemy import delete, select, update

    pid = get_project(db, project)["id"]
    with db.write() as s:
        u = _user(s, user)
        m = s.get(Membership, (pid, u.id))
        if m is None:
            raise NotFoundError(f"{u.username!r} is not a member of project {project!r}")
        s.delete(m)
        open_tasks = list(
            s.execute(
                select(Assignment.id, Task.id, Task.is_gold)
                .join(Task, Task.id == Assignment.task_id)
                .where(Assignment.user_id == u.id, Assignment.project_id == pid, Assignment.status == "open")
            )
        )
        for aid, tid, is_gold in open_tasks:
            s.execute(delete(Assignment).where(Assignment.id == aid))
            if not is_gold:
                s.execute(update(Task).where(Task.id == tid).values(n_assigned=Task.n_assigned - 1))
        uid, name = u.id, u.username
    forget_access(db, uid)
    return {"project": pid, "user": name, "user_id": uid, "released": len(open_tasks)}

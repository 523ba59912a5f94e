"""The annotator's queue: next task (overlap, gold rate, display order), submit, skip.

Values of judgements are stored in *canonical* response indices (the order of ``task.responses``); what an
annotator saw is the permutation ``order`` kept on the assignment and the judgement
(``order[displayed_position] = canonical index``).
"""

from __future__ import annotations

import functools
import random
from types import SimpleNamespace
from typing import Any, cast

from datamill.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from datamill.feedback.db import Database
from datamill.feedback.models import Assignment, Judgement, Task, User, utcnow
from datamill.feedback.service.judgements import judgement_dict
from datamill.feedback.service.members import can_access, check_access
from datamill.feedback.service.projects import get_project
from datamill.feedback.service.values import check_value, from_display, gold_correct
from datamill.feedback.textsafe import check_text

__all__ = ["can_claim", "get_task_for", "next_task", "open_task", "skip", "submit", "task_view"]


def _permutation(task_id: int, user_id: int, n: int) -> list[int]:
    order = list(range(n))
    random.Random(f"order:{task_id}:{user_id}").shuffle(order)
    return order


def task_view(project: dict[str, Any], task: Any, a: Any) -> dict[str, Any]:
    """A task as an annotator sees it: responses in their permuted order, with the permutation.

    ``task`` and ``a`` are a Task and an Assignment (or None), or rows with the same column names.
    """
    order = list(a.order) if a is not None else list(range(len(task.responses)))
    return {
        "task_id": task.id,
        "project_id": task.project_id,
        "external_id": task.external_id,
        "task_type": project["task_type"],
        "prompt": task.prompt,
        "messages": task.messages,
        "responses": [task.responses[i] for i in order],
        "order": order,
        "criteria": project["criteria"],
        "scale": project["scale"],
        "assignment_id": a.id if a is not None else None,
        "started_at": a.started_at.isoformat() if a is not None else None,
    }


@functools.cache
def _sql() -> Any:
    """The annotator hot path's statements, built once with bind parameters (no per-request construction)."""
    from sqlalchemy import Table, and_, bindparam, exists, func, insert, select, update

    at, tt, jt = (cast(Table, m.__table__) for m in (Assignment, Task, Judgement))
    A, T = at.c, tt.c
    view = (T.id, T.project_id, T.external_id, T.prompt, T.messages, T.responses)
    # "not already mine" as NOT EXISTS on the unique (task, user) index: a probe per candidate task, where
    # NOT IN (all my task ids) read the annotator's whole history on every next-task
    not_mine = ~exists().where(A.task_id == T.id, A.user_id == bindparam("uid"))
    free = (
        select(T.id, T.n_assigned)
        .where(
            T.project_id == bindparam("pid"),
            T.is_gold.is_(False),
            T.n_assigned < bindparam("overlap"),
            not_mine,
        )
        .order_by(T.n_assigned.desc(), T.id.desc())
    )
    claim = (
        update(tt)
        .where(T.id == bindparam("tid"), T.n_assigned < bindparam("overlap"))
        .values(n_assigned=T.n_assigned + 1)
    )
    return SimpleNamespace(
        open=select(A.id, A.task_id, A.order, A.started_at)
        .where(A.user_id == bindparam("uid"), A.project_id == bindparam("pid"), A.status == "open")
        .order_by(A.id)
        .limit(1),
        n_mine=select(func.count()).where(A.user_id == bindparam("uid"), A.project_id == bindparam("pid")),
        task=select(*view).where(T.id == bindparam("tid")),
        golds=select(T.id).where(T.project_id == bindparam("pid"), T.is_gold.is_(True), not_mine).limit(50),
        # PostgreSQL: lock a few free rows, skipping those other annotators hold
        free_locked=free.limit(8).with_for_update(skip_locked=True, of=tt),
        free=free.limit(64),
        claim=claim,
        # SQLite >= 3.35 and PostgreSQL: one statement claims the task and reads it
        claim_returning=claim.returning(*view),
        add_assignment=insert(at),
        task_and_assignment=select(
            T.project_id, T.responses, T.is_gold, T.gold, A.id.label("aid"), A.status, A.order, A.started_at
        )
        .select_from(tt.outerjoin(at, and_(A.task_id == T.id, A.user_id == bindparam("uid"))))
        .where(T.id == bindparam("tid")),
        add_judgement=insert(jt),
        finish=update(at).where(A.id == bindparam("aid")).values(status="done", finished_at=bindparam("now")),
    )


def next_task(db: Database, user_id: int, project: int | str) -> dict[str, Any] | None:
    """The annotator's current task, or a newly assigned one; None when their queue is empty.

    A task goes to at most ``overlap`` annotators (an atomic conditional UPDATE on ``n_assigned``),
    never twice to one annotator (unique (task, user)); gold tasks come at ``gold_rate``.
    """
    # Hot path: prebuilt Core statements on the session's connection (no ORM identity map or unit of
    # work); four statements for a new assignment: open one?, candidates, claim (UPDATE .. RETURNING), insert.
    from sqlalchemy.exc import IntegrityError

    proj = get_project(db, project)
    pid, overlap = proj["id"], proj["overlap"]
    check_access(db, user_id, pid, project)
    sql = _sql()
    for _attempt in range(5):
        try:
            with db.write(durable=False) as s:  # an assignment lost in a power cut is only handed out again
                conn = s.connection()
                a = conn.execute(sql.open, {"uid": user_id, "pid": pid}).first()
                if a is not None:
                    return task_view(proj, conn.execute(sql.task, {"tid": a.task_id}).one(), a)
                # the gold draw is seeded by how many tasks this annotator has had (only counted when needed)
                n_mine = (
                    conn.execute(sql.n_mine, {"uid": user_id, "pid": pid}).scalar()
                    if proj["gold_rate"]
                    else 0
                )
                rng = random.Random(f"gold:{user_id}:{pid}:{n_mine}")
                want_gold = proj["gold_rate"] > 0 and rng.random() < proj["gold_rate"]
                task = None
                if want_gold:
                    golds = list(conn.scalars(sql.golds, {"uid": user_id, "pid": pid}))
                    if golds:
                        task = conn.execute(sql.task, {"tid": rng.choice(golds)}).one()
                tried: set[int] = set()
                locking = not db.is_sqlite
                returning = conn.dialect.update_returning
                while task is None:
                    # tasks closest to their overlap first; ties shuffled per annotator so concurrent
                    # annotators spread over different rows instead of queueing on one. SQLite has one
                    # writer at a time anyway; PostgreSQL falls back to waiting when every free row is locked
                    q = sql.free_locked if locking else sql.free
                    cands = [
                        c
                        for c in conn.execute(q, {"uid": user_id, "pid": pid, "overlap": overlap}).all()
                        if c[0] not in tried
                    ]
                    if not cands:
                        if locking:  # all locked by others: wait on them rather than report an empty queue
                            locking = False
                            continue
                        return None
                    rng.shuffle(cands)
                    cands.sort(key=lambda c: -c[1])
                    for cid, _n in cands:
                        tried.add(cid)
                        if returning:
                            task = conn.execute(sql.claim_returning, {"tid": cid, "overlap": overlap}).first()
                        elif conn.execute(sql.claim, {"tid": cid, "overlap": overlap}).rowcount:
                            task = conn.execute(sql.task, {"tid": cid}).one()
                        if task is not None:
                            break
                order = _permutation(task.id, user_id, len(task.responses))
                now = utcnow()
                aid = conn.execute(
                    sql.add_assignment,
                    {
                        "task_id": task.id,
                        "user_id": user_id,
                        "project_id": pid,
                        "status": "open",
                        "order": order,
                        "started_at": now,
                    },
                ).inserted_primary_key[0]
                return task_view(proj, task, SimpleNamespace(id=aid, order=order, started_at=now))
        except IntegrityError:  # a concurrent request of the same user took this task first: try again
            continue
    raise ConflictError("could not assign a task under contention; retry")


def open_task(db: Database, user_id: int, project: int | str) -> dict[str, Any] | None:
    """The annotator's open task in a project, or None; assigns nothing (what a GET may do)."""
    proj = get_project(db, project)
    check_access(db, user_id, proj["id"], project)
    sql = _sql()
    with db.read() as s:
        conn = s.connection()
        a = conn.execute(sql.open, {"uid": user_id, "pid": proj["id"]}).first()
        return task_view(proj, conn.execute(sql.task, {"tid": a.task_id}).one(), a) if a is not None else None


def can_claim(db: Database, user_id: int, project: int | str) -> bool:
    """Whether :func:`next_task` would find the annotator a new task now (a read; assigns nothing)."""
    proj = get_project(db, project)
    check_access(db, user_id, proj["id"], project)
    sql = _sql()
    args = {"uid": user_id, "pid": proj["id"], "overlap": proj["overlap"]}
    with db.read() as s:
        conn = s.connection()
        if conn.execute(sql.free, args).first() is not None:
            return True
        return bool(proj["gold_rate"]) and conn.execute(sql.golds, args).first() is not None


def _owned_assignment(s: Any, user_id: int, task_id: int) -> tuple[Task, Assignment | None]:
    from sqlalchemy import select

    task = s.get(Task, task_id)
    if task is None:
        raise NotFoundError(f"no task {task_id}")
    a = s.scalar(select(Assignment).where(Assignment.task_id == task_id, Assignment.user_id == user_id))
    return task, a


def get_task_for(db: Database, user: User, task_id: int) -> dict[str, Any]:
    """A task as ``user`` may see it: annotators only tasks assigned to them (else 403); a task of a project
    the user is no member of does not exist for them (404)."""
    with db.read() as s:
        task, a = _owned_assignment(s, user.id, task_id)
        if not can_access(db, user.id, task.project_id):
            raise NotFoundError(f"no task {task_id}")
        if a is None and user.role == "annotator":
            raise ForbiddenError("this task is not in your queue")
        proj = get_project(db, task.project_id)
        return task_view(proj, task, a)


def submit(
    db: Database,
    user_id: int,
    task_id: int,
    *,
    client_key: str,
    value: Any,
    comment: str = "",
    displayed: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Record a judgement; returns ``(judgement, created)``.

    Idempotent by ``client_key`` (unique per user): resending the same key returns the stored judgement
    with ``created=False``. ``displayed=True`` means response indices are positions as shown.
    """
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    if not isinstance(client_key, str) or not 8 <= len(client_key) <= 64:
        raise InputError("client_key must be a string of 8-64 characters (e.g. a UUID)")
    if not isinstance(comment, str):
        raise InputError("comment must be a string")
    check_text(value=value, comment=comment)

    def existing(s: Any) -> tuple[dict[str, Any], bool] | None:
        j = s.scalar(
            select(Judgement).where(Judgement.user_id == user_id, Judgement.client_key == client_key)
        )
        if j is None:
            return None
        if j.task_id != task_id:
            raise ConflictError(f"client_key {client_key!r} was already used for task {j.task_id}")
        return judgement_dict(j), False

    sql = _sql()
    try:
        with db.write() as s:
            conn = s.connection()
            # one statement for the task and this user's assignment of it
            row = conn.execute(sql.task_and_assignment, {"uid": user_id, "tid": task_id}).first()
            if row is None or row.status != "open":
                # a retry of an acknowledged (or at least committed) submit returns the stored judgement;
                # only looked up off the hot path: an open assignment has no judgement yet
                found = existing(s)
                if found is not None:
                    return found
            _check_open(db, row, user_id, task_id)
            proj = get_project(db, row.project_id)
            order = list(row.order)
            if displayed:
                value = from_display(proj, value, order)
            value = check_value(proj, len(row.responses), value)
            now = utcnow()
            j = {
                "task_id": task_id,
                "user_id": user_id,
                "project_id": row.project_id,
                "client_key": client_key,
                "value": value,
                "comment": comment[:10_000],
                "order": order,
                "seconds": max((now - row.started_at).total_seconds(), 0.0),
                "gold_correct": gold_correct(proj, row.gold, value) if row.is_gold else None,
                "created_at": now,
            }
            jid = conn.execute(sql.add_judgement, j).inserted_primary_key[0]
            conn.execute(sql.finish, {"aid": row.aid, "now": now})
            return judgement_dict(SimpleNamespace(id=jid, **j)), True  # type: ignore[arg-type]
    except IntegrityError:  # the same key raced in from a retry: the first one won
        with db.read() as s:
            found = existing(s)
        if found:
            return found
        raise ConflictError("you already judged this task") from None


def _check_open(db: Database, row: Any, user_id: int, task_id: int) -> None:
    """Refuse a submit unless the task is visible to the user and open in their queue."""
    if row is None or not can_access(db, user_id, row.project_id):
        raise NotFoundError(f"no task {task_id}")
    if row.aid is None:
        raise ForbiddenError("this task is not in your queue")
    if row.status == "done":
        raise ConflictError("you already judged this task (with another client_key)")
    if row.status == "skipped":
        raise ConflictError("you skipped this task")


def skip(db: Database, user_id: int, task_id: int, *, reason: str) -> None:
    """Skip an assigned task with a reason; it goes back to the pool for others."""
    from sqlalchemy import update

    reason = (reason or "").strip()
    check_text(reason=reason)
    if not reason:
        raise InputError("a skip needs a reason")
    with db.write() as s:
        task, a = _owned_assignment(s, user_id, task_id)
        if not can_access(db, user_id, task.project_id):
            raise NotFoundError(f"no task {task_id}")
        if a is None:
            raise ForbiddenError("this task is not in your queue")
        if a.status != "open":
            raise ConflictError(f"task is already {a.status}")
        a.status = "skipped"
        a.skip_reason = reason[:2000]
        a.finished_at = utcnow()
        if not task.is_gold:
            s.execute(update(Task).where(Task.id == task_id).values(n_assigned=Task.n_assigned - 1))

"""The audit log: who did which admin action when (users, roles, memberships, tokens, projects, imports,
exports, resolutions), kept in the database, listed for admins and exported as JSON Lines or CSV.

Every web route and CLI verb that performs such an action records one event after it succeeded. An actor is
a user (kept by name too, so the log outlives a deleted account) or ``cli:<os user>`` for the command line.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from typing import Any, Literal, get_args

from datamill.errors import ConfigError
from datamill.feedback.db import Database
from datamill.feedback.models import AuditEvent, User, utcnow

__all__ = [
    "AUDIT_ACTIONS",
    "AUDIT_FORMATS",
    "AuditAction",
    "audit_lines",
    "cli_actor",
    "export_audit",
    "list_audit",
    "record",
]

#: the actions recorded, as ``<what>.<verb>`` (the type the web API validates a query against)
AuditAction = Literal[
    "user.create",
    "user.update",
    "member.add",
    "member.remove",
    "token.create",
    "token.revoke",
    "project.create",
    "tasks.import",
    "export",
    "resolution",
]
AUDIT_ACTIONS: tuple[str, ...] = get_args(AuditAction)
AUDIT_FORMATS = ("jsonl", "csv")
_COLUMNS = ("id", "at", "actor", "actor_id", "action", "target", "detail")


def cli_actor() -> str:
    """The actor name of a command-line action: ``cli:<login name>``."""
    import getpass

    try:
        who = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        who = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"cli:{who}"


def record(db: Database, actor: User | str | None, action: str, target: Any = "", **detail: Any) -> None:
    """Append one event: ``actor`` (a user, or a name such as :func:`cli_actor`'s) did ``action`` on
    ``target`` (a project name, a username, ...), with JSON-able ``detail``."""
    if action not in AUDIT_ACTIONS:
        raise ConfigError(f"unknown audit action {action!r}; allowed: {', '.join(AUDIT_ACTIONS)}")
    actor_id = actor.id if isinstance(actor, User) else None
    name = actor.username if isinstance(actor, User) else (actor or cli_actor())
    with db.write() as s:
        s.add(
            AuditEvent(
                at=utcnow(),
                actor_id=actor_id,
                actor=name[:80],
                action=action,
                target=str(target)[:255],
                detail=detail,
            )
        )


def _event(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "actor": e.actor,
        "actor_id": e.actor_id,
        "action": e.action,
        "target": e.target,
        "detail": e.detail,
    }


def list_audit(
    db: Database, *, action: str | None = None, limit: int | None = 200, before: int | None = None
) -> list[dict[str, Any]]:
    """Events newest first: of one ``action`` (or all), at most ``limit`` (None: all), older than event id
    ``before`` (paging)."""
    from sqlalchemy import select

    if action is not None and action not in AUDIT_ACTIONS:
        raise ConfigError(f"unknown audit action {action!r}; allowed: {', '.join(AUDIT_ACTIONS)}")
    q = select(AuditEvent).order_by(AuditEvent.id.desc())
    if action is not None:
        q = q.where(AuditEvent.action == action)
    if before is not None:
        q = q.where(AuditEvent.id < before)
    if limit is not None:
        q = q.limit(limit)
    with db.read() as s:
        return [_event(e) for e in s.scalars(q)]


def audit_lines(events: list[dict[str, Any]], format: str) -> Iterator[str]:  # noqa: A002
    """The events as JSON Lines or CSV text (a header row first; ``detail`` as JSON in one column)."""
    import orjson

    if format not in AUDIT_FORMATS:
        raise ConfigError(f"unknown audit format {format!r}; allowed: {', '.join(AUDIT_FORMATS)}")
    if format == "jsonl":
        for e in events:
            yield orjson.dumps(e).decode() + "\n"
        return
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(_COLUMNS)
    for e in events:
        w.writerow([orjson.dumps(e[c]).decode() if c == "detail" else e[c] for c in _COLUMNS])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


def export_audit(
    db: Database,
    output: str | os.PathLike[str],
    *,
    format: str | None = None,  # noqa: A002
    action: str | None = None,
) -> int:
    """Write the whole audit log (oldest first) to ``output`` as JSON Lines or CSV (``format``, default
    told by the file name); returns the number of events."""
    path = os.fspath(output)
    fmt = format or ("csv" if path.endswith(".csv") else "jsonl")
    events = list(reversed(list_audit(db, action=action, limit=None)))
    with open(path, "w", encoding="utf-8", newline="") as f:
        for chunk in audit_lines(events, fmt):
            f.write(chunk)
    return len(events)

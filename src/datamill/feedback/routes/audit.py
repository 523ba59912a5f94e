"""The audit log (admin): the page, the API and the JSON Lines / CSV download."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from datamill.feedback import service as svc
from datamill.feedback.models import MAX_ROW_ID
from datamill.feedback.routes.deps import ApiUser, Db, PageUser, need, page
from datamill.feedback.service.audit import AuditAction

__all__ = ["router"]

router = APIRouter()


def _download(db: Any, format: str, action: str | None) -> Response:  # noqa: A002
    events = list(reversed(svc.list_audit(db, action=action, limit=None)))
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return Response(
        "".join(svc.audit_lines(events, format)).encode(),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="datamill-audit.{format}"'},
    )


@router.get("/audit", include_in_schema=False)
def audit_page(request: Request, me: PageUser, db: Db, action: str = "") -> Response:
    need(me[0], "admin")
    chosen = action if action in svc.AUDIT_ACTIONS else None
    return page(
        request,
        "audit.html",
        {
            "user": me[0],
            "csrf": me[1],
            "events": svc.list_audit(db, action=chosen, limit=500),
            "actions": svc.AUDIT_ACTIONS,
            "action": chosen or "",
        },
    )


@router.get("/audit/export", include_in_schema=False)
def audit_download(
    me: PageUser, db: Db, format: Literal["jsonl", "csv"] = "jsonl", action: str = ""
) -> Response:  # noqa: A002
    need(me[0], "admin")
    return _download(db, format, action if action in svc.AUDIT_ACTIONS else None)


@router.get("/api/audit", tags=["audit"])
def api_audit(
    user: ApiUser,
    db: Db,
    action: AuditAction | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> list[dict[str, Any]]:
    """Audit events newest first (admin): of one ``action`` or all, ``limit`` at a time, older than event
    id ``before`` (paging)."""
    need(user, "admin")
    return svc.list_audit(db, action=action, limit=limit, before=before)


@router.get("/api/audit/export", tags=["audit"])
def api_audit_export(
    user: ApiUser,
    db: Db,
    format: Literal["jsonl", "csv"] = "jsonl",
    action: AuditAction | None = None,  # noqa: A002
) -> Response:
    """The whole audit log, oldest first, as a JSON Lines or CSV download (admin)."""
    need(user, "admin")
    return _download(db, format, action)

"""Export: the JSONL download of a project and the API's export rows (admins, and reviewers of their projects)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import Field

from datamill.feedback import service as svc
from datamill.feedback.routes.deps import ApiUser, Db, PageUser, need

__all__ = ["router"]

router = APIRouter()


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "export"


@router.get("/projects/{project}/export", include_in_schema=False)
def export_download(
    project: str,
    me: PageUser,
    db: Db,
    format: str = "dpo",
    policy: str = "majority",
    min_agreement: float = 0.0,
) -> Response:
    import orjson

    from datamill.feedback.export import export_rows

    need(me[0], "reviewer")
    p = svc.project_for(db, me[0], project)
    rows = export_rows(db, p["id"], format, policy=policy, min_agreement=min_agreement)
    svc.record(db, me[0], "export", p["name"], format=format, policy=policy, rows=len(rows))
    return Response(
        b"".join(orjson.dumps(r) + b"\n" for r in rows),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{_slug(p["name"])}-{format}.jsonl"'},
    )


@router.get("/api/projects/{project}/export", tags=["export"])
def api_export(
    project: str,
    user: ApiUser,
    db: Db,
    format: Literal["dpo", "reward", "kto", "sft", "raw"] = "dpo",
    policy: Literal["majority", "gold-weighted"] = "majority",
    min_agreement: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0,
) -> list[dict[str, Any]]:
    """Export rows (admin, or a reviewer member): dpo/reward/kto/sft/raw, aggregated by majority or
    gold-weighted votes."""
    from datamill.feedback.export import export_rows

    need(user, "reviewer")
    p = svc.project_for(db, user, project)
    rows = export_rows(db, p["id"], format, policy=policy, min_agreement=min_agreement)
    svc.record(db, user, "export", p["name"], format=format, policy=policy, rows=len(rows))
    return rows

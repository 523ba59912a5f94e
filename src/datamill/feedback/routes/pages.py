"""The pages that belong to no one resource: the project list (home) and the API documentation."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from datamill.feedback import service as svc
from datamill.feedback.routes.deps import Db, PageUser, auth, page

__all__ = ["router"]

router = APIRouter()


@router.get("/", include_in_schema=False)
def index(request: Request, me: PageUser, db: Db) -> Response:
    return page(
        request, "index.html", {"user": me[0], "csrf": me[1], "projects": svc.project_progress(db, me[0].id)}
    )


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """The icon, for clients that ask for /favicon.ico whatever the page's <link rel=icon> says."""
    from pathlib import Path

    from fastapi.responses import FileResponse

    path = Path(__file__).parent.parent / "static" / "favicon.svg"
    return FileResponse(path, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


@router.get("/docs", include_in_schema=False)
def docs_page(request: Request) -> Response:
    found = auth(request)
    return page(
        request,
        "docs.html",
        {
            "user": found[0] if found else None,
            "csrf": found[1] if found else None,
            "spec": request.app.openapi(),
        },
    )

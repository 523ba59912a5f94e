"""Annotation: the annotate page and its forms, and the API's queue, judgements and skips.

No GET assigns a task (an ``<img src=/projects/1/annotate>`` on another site would hold a queue slot in the
victim's name): the page shows the open task, or a form that claims the next one by POST (sent by the page
itself when the visit came from this site); a submit or skip claims the next task in the same POST.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from datamill.errors import ConflictError, InputError
from datamill.feedback import service as svc
from datamill.feedback.db import Database
from datamill.feedback.routes.deps import ApiUser, Db, PageUser, RowId, check_form_csrf, page
from datamill.feedback.routes.forms import form_value

__all__ = ["SkipIn", "SubmitIn", "router"]

router = APIRouter()


class SubmitIn(BaseModel):
    client_key: str = Field(
        min_length=8,
        max_length=64,
        description="A client-made unique key (UUID): "
        "resending it returns the stored judgement instead of a duplicate.",
    )
    value: dict[str, Any]
    comment: str = Field(default="", max_length=10_000)
    displayed: bool = Field(default=False, description="Response indices are positions as displayed.")


class SkipIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def _json(data: Any, status: int = 200) -> Response:
    import orjson

    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _annotate_page(
    request: Request, me: tuple[Any, str], db: Database, p: dict[str, Any], error: str | None = None
) -> Response:
    """The annotate page: the open task, else a claim form (or the empty queue); ``error`` with status 422."""
    task = svc.open_task(db, me[0].id, p["id"])
    claim = task is None and svc.can_claim(db, me[0].id, p["id"])
    # the page claims by itself only on a visit from this site (a link from elsewhere shows the button)
    auto = claim and error is None and request.headers.get("sec-fetch-site") in ("same-origin", "none")
    ctx = {
        "user": me[0],
        "csrf": me[1],
        "p": p,
        "task": task,
        "claim": claim,
        "auto_claim": auto,
        "client_key": uuid.uuid4().hex,
        "letters": "ABCDEFGHIJ",
        "message": error,
        "progress": svc.queue_progress(db, me[0].id, p["id"]),
    }
    return page(request, "annotate.html", ctx, 422 if error else 200)


def _claim_next(db: Database, user_id: int, project_id: int) -> None:
    with contextlib.suppress(ConflictError):  # contention: the page offers the claim button
        svc.next_task(db, user_id, project_id)


@router.get("/projects/{project}/annotate", include_in_schema=False)
def annotate(request: Request, project: str, me: PageUser, db: Db) -> Response:
    return _annotate_page(request, me, db, svc.project_for(db, me[0], project))


@router.post("/projects/{project}/annotate", include_in_schema=False)
def annotate_claim(project: str, me: PageUser, db: Db, csrf_token: str = Form("")) -> Response:
    """Claim the next task (the open one stays yours), then show it."""
    check_form_csrf(me[1], csrf_token)
    p = svc.project_for(db, me[0], project)
    _claim_next(db, me[0].id, p["id"])
    return RedirectResponse(f"/projects/{p['id']}/annotate", status_code=303)


@router.post("/projects/{project}/tasks/{task_id}/submit", include_in_schema=False)
async def annotate_submit(request: Request, project: str, task_id: RowId, me: PageUser, db: Db) -> Response:
    form = await request.form()
    check_form_csrf(me[1], str(form.get("csrf_token", "")))
    p = svc.project_for(db, me[0], project)
    try:
        value = form_value(p, form)
        await run_in_threadpool(
            lambda: svc.submit(
                db,
                me[0].id,
                task_id,
                client_key=str(form.get("client_key", "")),
                value=value,
                comment=str(form.get("comment", "")),
                displayed=True,
            )
        )
    except InputError as exc:
        return await run_in_threadpool(_annotate_page, request, me, db, p, str(exc))
    await run_in_threadpool(_claim_next, db, me[0].id, p["id"])
    return RedirectResponse(f"/projects/{p['id']}/annotate", status_code=303)


@router.post("/projects/{project}/tasks/{task_id}/skip", include_in_schema=False)
def annotate_skip(
    request: Request,
    project: str,
    task_id: RowId,
    me: PageUser,
    db: Db,
    reason: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    check_form_csrf(me[1], csrf_token)
    p = svc.project_for(db, me[0], project)
    try:
        svc.skip(db, me[0].id, task_id, reason=reason)
    except InputError as exc:
        return _annotate_page(request, me, db, p, str(exc))
    _claim_next(db, me[0].id, p["id"])
    return RedirectResponse(f"/projects/{p['id']}/annotate", status_code=303)


# the two annotator hot-path routes answer with orjson directly (response_model only documents them):
# FastAPI's validate-then-serialise of a dict[str, Any] cost more than the SQL of a submit
@router.post("/api/projects/{project}/next", tags=["annotate"], response_model=dict[str, Any])
def api_claim_next(project: str, user: ApiUser, db: Db) -> Response:
    """Your current task, or a newly assigned one (responses in your display order); ``task`` is null when
    your queue is empty."""
    return _json({"task": svc.next_task(db, user.id, project)})


@router.get("/api/projects/{project}/next", tags=["annotate"], response_model=dict[str, Any])
def api_next(request: Request, project: str, user: ApiUser, db: Db) -> Response:
    """With an API token: as ``POST`` (kept for older clients). With a browser session it assigns nothing (a
    GET any page can make the browser send): your open task, or 409 when you have none (claim with POST)."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return _json({"task": svc.next_task(db, user.id, project)})
    task = svc.open_task(db, user.id, project)
    if task is None:
        raise ConflictError(f"no open task: claim one with POST /api/projects/{project}/next")
    return _json({"task": task})


@router.get("/api/tasks/{task_id}", tags=["annotate"])
def api_task(task_id: RowId, user: ApiUser, db: Db) -> dict[str, Any]:
    """One task: annotators only see tasks in their queue."""
    return svc.get_task_for(db, user, task_id)


@router.post(
    "/api/tasks/{task_id}/judgements", tags=["annotate"], status_code=201, response_model=dict[str, Any]
)
def api_submit(task_id: RowId, body: SubmitIn, user: ApiUser, db: Db) -> Response:
    """Submit a judgement (201), idempotent by ``client_key`` (a repeat returns the stored one with 200)."""
    j, created = svc.submit(
        db,
        user.id,
        task_id,
        client_key=body.client_key,
        value=body.value,
        comment=body.comment,
        displayed=body.displayed,
    )
    return _json(j, 201 if created else 200)


@router.post("/api/tasks/{task_id}/skip", tags=["annotate"])
def api_skip(task_id: RowId, body: SkipIn, user: ApiUser, db: Db) -> dict[str, Any]:
    """Skip a task in your queue, with a reason."""
    svc.skip(db, user.id, task_id, reason=body.reason)
    return {"skipped": task_id}


@router.get("/api/projects/{project}/judgements", tags=["quality"])
def api_judgements(project: str, user: ApiUser, db: Db) -> list[dict[str, Any]]:
    """Judgements of a project you are a member of: annotators get only their own."""
    only = user.id if user.role == "annotator" else None
    return svc.list_judgements(db, svc.project_for(db, user, project)["id"], user_id=only)


@router.get("/api/judgements/{judgement_id}", tags=["quality"])
def api_judgement(judgement_id: RowId, user: ApiUser, db: Db) -> dict[str, Any]:
    """One judgement (annotators: only their own)."""
    return svc.get_judgement_for(db, user, judgement_id)

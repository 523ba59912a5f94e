"""Annotation: the annotate page and its forms, and the API's queue, judgements and skips."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from datamill.errors import InputError
from datamill.feedback import service as svc
from datamill.feedback.routes.deps import ApiUser, Db, PageUser, RowId, check_form_csrf, page, quoted
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


@router.get("/projects/{project}/annotate", include_in_schema=False)
def annotate(request: Request, project: str, me: PageUser, db: Db) -> Response:
    p = svc.project_for(db, me[0], project)
    task = svc.next_task(db, me[0].id, p["id"])
    return page(
        request,
        "annotate.html",
        {
            "user": me[0],
            "csrf": me[1],
            "p": p,
            "task": task,
            "client_key": uuid.uuid4().hex,
            "letters": "ABCDEFGHIJ",
            "message": request.query_params.get("msg"),
        },
    )


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
        return RedirectResponse(f"/projects/{p['id']}/annotate?msg={quoted(str(exc))}", status_code=303)
    return RedirectResponse(f"/projects/{p['id']}/annotate", status_code=303)


@router.post("/projects/{project}/tasks/{task_id}/skip", include_in_schema=False)
def annotate_skip(
    project: str, task_id: RowId, me: PageUser, db: Db, reason: str = Form(""), csrf_token: str = Form("")
) -> Response:
    check_form_csrf(me[1], csrf_token)
    p = svc.project_for(db, me[0], project)
    try:
        svc.skip(db, me[0].id, task_id, reason=reason)
    except InputError as exc:
        return RedirectResponse(f"/projects/{p['id']}/annotate?msg={quoted(str(exc))}", status_code=303)
    return RedirectResponse(f"/projects/{p['id']}/annotate", status_code=303)


# the two annotator hot-path routes answer with orjson directly (response_model only documents them):
# FastAPI's validate-then-serialise of a dict[str, Any] cost more than the SQL of a submit
@router.get("/api/projects/{project}/next", tags=["annotate"], response_model=dict[str, Any])
def api_next(project: str, user: ApiUser, db: Db) -> Response:
    """Your current or next task (responses in your display order); ``task`` is null when done."""
    return _json({"task": svc.next_task(db, user.id, project)})


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

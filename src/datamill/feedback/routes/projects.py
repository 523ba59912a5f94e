"""Projects: the new-project form, the overview page, file import, and the API's projects and task upload."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from datamill.errors import ConfigError, ConflictError, InputError
from datamill.feedback import service as svc
from datamill.feedback.db import Database
from datamill.feedback.routes.deps import ApiUser, Db, PageUser, check_form_csrf, need, notice, page
from datamill.feedback.service.projects import MAX_CRITERIA, MAX_CRITERION_CHARS, MAX_GUIDELINES_CHARS

__all__ = ["ProjectIn", "TasksIn", "router"]

router = APIRouter()


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    task_type: Literal["pairwise", "ranking", "rubric", "rewrite", "comment", "harm", "harm-pairwise"] = (
        "pairwise"
    )
    guidelines: str = Field(default="", max_length=MAX_GUIDELINES_CHARS)
    overlap: int = Field(default=1, ge=1, le=100)
    gold_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    criteria: list[Annotated[str, Field(max_length=MAX_CRITERION_CHARS)]] | None = Field(
        default=None, max_length=MAX_CRITERIA
    )
    scale: int = Field(default=5, ge=2, le=10)


class TasksIn(BaseModel):
    tasks: list[dict[str, Any]] = Field(max_length=10_000)


def _create(db: Database, body: ProjectIn) -> dict[str, Any]:
    return svc.create_project(
        db,
        body.name,
        task_type=body.task_type,
        guidelines=body.guidelines,
        overlap=body.overlap,
        gold_rate=body.gold_rate,
        criteria=body.criteria,
        scale=body.scale,
    )


# "/projects/new" before "/projects/{project}": the first matching route wins
@router.get("/projects/new", include_in_schema=False)
def project_new(request: Request, me: PageUser) -> Response:
    need(me[0], "admin")
    return page(request, "project_new.html", {"user": me[0], "csrf": me[1], "error": None})


@router.post("/projects/new", include_in_schema=False)
def project_new_post(
    request: Request,
    me: PageUser,
    db: Db,
    name: str = Form(""),
    task_type: str = Form("pairwise"),
    guidelines: str = Form(""),
    overlap: int = Form(1),
    gold_rate: float = Form(0.0),
    criteria: str = Form(""),
    scale: int = Form(5),
    csrf_token: str = Form(""),
) -> Response:
    need(me[0], "admin")
    check_form_csrf(me[1], csrf_token)
    try:  # the form's fields go through the API's model: one set of limits
        body = ProjectIn(
            name=name,
            task_type=task_type,  # type: ignore[arg-type]  # the model checks it
            guidelines=guidelines,
            overlap=overlap,
            gold_rate=gold_rate,
            scale=scale,
            criteria=[c.strip() for c in criteria.split(",") if c.strip()] or None,
        )
        p = _create(db, body)
    except ValidationError as exc:
        why = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in exc.errors())
        return page(request, "project_new.html", {"user": me[0], "csrf": me[1], "error": why}, 422)
    except (ConfigError, ConflictError, InputError) as exc:
        return page(request, "project_new.html", {"user": me[0], "csrf": me[1], "error": str(exc)}, 422)
    svc.record(db, me[0], "project.create", p["name"], project_id=p["id"], task_type=p["task_type"])
    return RedirectResponse(f"/projects/{p['id']}", status_code=303)


def _project_page(
    request: Request, me: tuple[Any, str], db: Database, p: dict[str, Any], error: str | None = None
) -> Response:
    """The project overview: ``error`` (status 422) or the notice of a ``?msg=`` code."""
    from datamill.feedback.quality import agreement_report

    ctx = {"user": me[0], "csrf": me[1], "p": p, "report": agreement_report(db, p["id"])}
    ctx["message"] = error or notice(request)
    return page(request, "project.html", ctx, 422 if error else 200)


@router.get("/projects/{project}", include_in_schema=False)
def project_page(request: Request, project: str, me: PageUser, db: Db) -> Response:
    p = svc.project_for(db, me[0], project)
    if me[0].role == "annotator":
        return RedirectResponse(f"/projects/{p['id']}/annotate", status_code=303)
    return _project_page(request, me, db, p)


@router.post("/projects/{project}/import", include_in_schema=False)
async def project_import(
    request: Request, project: str, file: UploadFile, me: PageUser, db: Db, csrf_token: str = Form("")
) -> Response:
    need(me[0], "admin")
    check_form_csrf(me[1], csrf_token)
    p = svc.get_project(db, project)
    try:
        n = await run_in_threadpool(svc.import_upload, db, p["id"], file.filename or "", await file.read())
    except InputError as exc:
        return await run_in_threadpool(_project_page, request, me, db, p, str(exc))
    svc.record(db, me[0], "tasks.import", p["name"], tasks=n, file=(file.filename or "")[:200])
    return RedirectResponse(f"/projects/{p['id']}?msg=imported", status_code=303)


@router.get("/api/projects", tags=["projects"])
def api_projects(user: ApiUser, db: Db) -> list[dict[str, Any]]:
    """The projects you may see: all for an admin, else those you are a member of."""
    return svc.list_projects(db, user_id=user.id)


@router.post("/api/projects", tags=["projects"], status_code=201)
def api_create_project(body: ProjectIn, user: ApiUser, db: Db) -> dict[str, Any]:
    """Create a project (admin)."""
    need(user, "admin")
    p = _create(db, body)
    svc.record(db, user, "project.create", p["name"], project_id=p["id"], task_type=p["task_type"])
    return p


@router.get("/api/projects/{project}", tags=["projects"])
def api_project(project: str, user: ApiUser, db: Db) -> dict[str, Any]:
    """One project by id or name (404 for a project you are no member of)."""
    return svc.project_for(db, user, project)


@router.post("/api/projects/{project}/tasks", tags=["projects"], status_code=201)
def api_add_tasks(project: str, body: TasksIn, user: ApiUser, db: Db) -> dict[str, Any]:
    """Add tasks (admin): all or nothing; an error names the bad row."""
    need(user, "admin")
    n = svc.add_tasks(db, project, enumerate(body.tasks, 1), what="task")
    svc.record(db, user, "tasks.import", svc.get_project(db, project)["name"], tasks=n, file=None)
    return {"imported": n}

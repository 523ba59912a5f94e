"""Project membership (admin): the members page and the API to list, add and remove members."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from datamill.errors import ConfigError, NotFoundError
from datamill.feedback import service as svc
from datamill.feedback.routes.deps import ApiUser, Db, PageUser, check_form_csrf, need, page

__all__ = ["MemberIn", "router"]

router = APIRouter()


class MemberIn(BaseModel):
    user: str = Field(min_length=1, max_length=64, description="Username (or id) of the user to add.")


def _members_page(request: Request, me: Any, db: Any, project: str, error: str | None = None) -> Response:
    p = svc.get_project(db, project)
    members = svc.list_members(db, p["id"])
    taken = {m["id"] for m in members}
    candidates = [u for u in svc.list_users(db) if u["role"] != "admin" and u["id"] not in taken]
    return page(
        request,
        "members.html",
        {
            "user": me[0],
            "csrf": me[1],
            "p": p,
            "members": members,
            "candidates": candidates,
            "error": error,
        },
        422 if error else 200,
    )


@router.get("/projects/{project}/members", include_in_schema=False)
def members_page(request: Request, project: str, me: PageUser, db: Db) -> Response:
    need(me[0], "admin")
    return _members_page(request, me, db, project)


@router.post("/projects/{project}/members", include_in_schema=False)
def members_add(
    request: Request, project: str, me: PageUser, db: Db, user: str = Form(""), csrf_token: str = Form("")
) -> Response:
    need(me[0], "admin")
    check_form_csrf(me[1], csrf_token)
    p = svc.get_project(db, project)
    try:
        out = svc.add_member(db, p["id"], user)
    except (ConfigError, NotFoundError) as exc:
        return _members_page(request, me, db, project, str(exc))
    if out["added"]:
        svc.record(db, me[0], "member.add", p["name"], user=out["user"])
    return RedirectResponse(f"/projects/{p['id']}/members", status_code=303)


@router.post("/projects/{project}/members/remove", include_in_schema=False)
def members_remove(
    request: Request, project: str, me: PageUser, db: Db, user: str = Form(""), csrf_token: str = Form("")
) -> Response:
    need(me[0], "admin")
    check_form_csrf(me[1], csrf_token)
    p = svc.get_project(db, project)
    try:
        out = svc.remove_member(db, p["id"], user)
    except NotFoundError as exc:
        return _members_page(request, me, db, project, str(exc))
    svc.record(db, me[0], "member.remove", p["name"], user=out["user"], released=out["released"])
    return RedirectResponse(f"/projects/{p['id']}/members", status_code=303)


@router.get("/api/projects/{project}/members", tags=["members"])
def api_members(project: str, user: ApiUser, db: Db) -> list[dict[str, Any]]:
    """The project's members (admin)."""
    need(user, "admin")
    return svc.list_members(db, project)


@router.post("/api/projects/{project}/members", tags=["members"], status_code=201)
def api_add_member(project: str, body: MemberIn, user: ApiUser, db: Db) -> Response:
    """Make a user a member of the project (admin): 201, or 200 when they already were."""
    need(user, "admin")
    out = svc.add_member(db, project, body.user)
    if out["added"]:
        svc.record(db, user, "member.add", svc.get_project(db, project)["name"], user=out["user"])
    return JSONResponse(out, status_code=201 if out["added"] else 200)


@router.delete("/api/projects/{project}/members/{member}", tags=["members"])
def api_remove_member(project: str, member: str, user: ApiUser, db: Db) -> dict[str, Any]:
    """Remove a member (admin); their open tasks in the project go back to the pool."""
    need(user, "admin")
    out = svc.remove_member(db, project, member)
    svc.record(
        db,
        user,
        "member.remove",
        svc.get_project(db, project)["name"],
        user=out["user"],
        released=out["released"],
    )
    return out

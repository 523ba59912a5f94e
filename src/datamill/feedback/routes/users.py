"""Users (admin): the users page and API: create users, change roles, deactivate."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from datamill.errors import ConfigError, ConflictError, InputError
from datamill.feedback import service as svc
from datamill.feedback.db import Database
from datamill.feedback.routes.deps import ApiUser, Db, PageUser, RowId, check_form_csrf, need, page

__all__ = ["UserIn", "UserUpdate", "router"]

router = APIRouter()


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=1024)
    role: Literal["admin", "reviewer", "annotator"] = "annotator"


class UserUpdate(BaseModel):
    role: Literal["admin", "reviewer", "annotator"] | None = None
    active: bool | None = Field(
        default=None, description="false deactivates: sessions and tokens stop working."
    )


def _users_page(request: Request, me: tuple[Any, str], db: Database, error: str | None = None) -> Response:
    """The users page, with ``error`` (status 422) from a form just refused (never text from the URL)."""
    ctx = {"user": me[0], "csrf": me[1], "users": svc.list_users(db), "error": error}
    return page(request, "users.html", ctx, 422 if error else 200)


@router.get("/users", include_in_schema=False)
def users_page(request: Request, me: PageUser, db: Db) -> Response:
    need(me[0], "admin")
    return _users_page(request, me, db)


async def _create_user(
    request: Request, db: Database, username: str, password: str, role: str
) -> dict[str, Any]:
    """A new user, its password hashed under the app's bound on concurrent hashing (the login limits' gate):
    an admin (or a stolen admin session) creating users in a loop cannot take every core."""
    return await request.app.state.limits.gate.run(lambda: svc.create_user(db, username, password, role=role))


@router.post("/users", include_in_schema=False)
async def users_post(
    request: Request,
    me: PageUser,
    db: Db,
    username: str = Form(""),
    password: str = Form(""),
    role: str = Form("annotator"),
    csrf_token: str = Form(""),
) -> Response:
    need(me[0], "admin")
    check_form_csrf(me[1], csrf_token)
    try:
        u = await _create_user(request, db, username, password, role)
    except (InputError, ConfigError, ConflictError) as exc:
        return await run_in_threadpool(_users_page, request, me, db, str(exc))
    await run_in_threadpool(svc.record, db, me[0], "user.create", u["username"], role=u["role"])
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}", include_in_schema=False)
def users_update(
    request: Request,
    user_id: RowId,
    me: PageUser,
    db: Db,
    role: str = Form(""),
    active: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    need(me[0], "admin")
    check_form_csrf(me[1], csrf_token)
    try:
        out = svc.update_user(db, user_id, role=role or None, active=active == "1" if active else None)
    except (ConfigError, ConflictError) as exc:
        return page(
            request,
            "users.html",
            {"user": me[0], "csrf": me[1], "users": svc.list_users(db), "error": str(exc)},
            422,
        )
    if out["changed"]:
        svc.record(db, me[0], "user.update", out["username"], **out["changed"])
    return RedirectResponse("/users", status_code=303)


@router.get("/api/users", tags=["users"])
def api_users(user: ApiUser, db: Db) -> list[dict[str, Any]]:
    """All users (admin)."""
    need(user, "admin")
    return svc.list_users(db)


@router.post("/api/users", tags=["users"], status_code=201)
async def api_create_user(request: Request, body: UserIn, user: ApiUser, db: Db) -> dict[str, Any]:
    """Create a user (admin); 503 with Retry-After while the server is busy hashing passwords."""
    need(user, "admin")
    out = await _create_user(request, db, body.username, body.password, body.role)
    await run_in_threadpool(svc.record, db, user, "user.create", out["username"], role=out["role"])
    return out


@router.patch("/api/users/{user_ref}", tags=["users"])
def api_update_user(user_ref: str, body: UserUpdate, user: ApiUser, db: Db) -> dict[str, Any]:
    """Change a user's role or deactivate/reactivate them (admin); the last active admin stays one."""
    need(user, "admin")
    out = svc.update_user(db, user_ref, role=body.role, active=body.active)
    if out["changed"]:
        svc.record(db, user, "user.update", out["username"], **out["changed"])
    return out

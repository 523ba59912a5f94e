"""First run, login and logout (pages), and the API's login, identity and health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from datamill.errors import ConflictError, InputError, UnauthorizedError
from datamill.feedback import service as svc
from datamill.feedback.models import User
from datamill.feedback.routes.deps import (
    SESSION_COOKIE,
    ApiUser,
    Db,
    PageUser,
    check_form_csrf,
    login_response,
)
from datamill.feedback.routes.presession import check_pre_csrf, pre_csrf_page

__all__ = ["LoginIn", "router", "user_dict"]

router = APIRouter()


class LoginIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    token_name: str = Field(default="client", max_length=64)


def user_dict(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "role": u.role}


@router.get("/setup", include_in_schema=False)
def setup_page(request: Request, db: Db) -> Response:
    if svc.has_admin(db):
        return RedirectResponse("/login", status_code=303)
    return pre_csrf_page(request, "setup.html", {"error": None, "has_users": svc.has_users(db)})


@router.post("/setup", include_in_schema=False)
def setup_post(
    request: Request, db: Db, username: str = Form(""), password: str = Form(""), csrf_token: str = Form("")
) -> Response:
    check_pre_csrf(request, csrf_token)
    try:
        user = svc.create_user(db, username, password, role="admin", first_admin=True)
    except (InputError, ConflictError) as exc:
        return pre_csrf_page(request, "setup.html", {"error": str(exc), "has_users": svc.has_users(db)}, 422)
    return login_response(request, user["id"], "/")


@router.get("/login", include_in_schema=False)
def login_page(request: Request, db: Db) -> Response:
    if not svc.has_users(db):
        return RedirectResponse("/setup", status_code=303)
    return pre_csrf_page(request, "login.html", {"error": None, "no_admin": not svc.has_admin(db)})


@router.post("/login", include_in_schema=False)
def login_post(
    request: Request, db: Db, username: str = Form(""), password: str = Form(""), csrf_token: str = Form("")
) -> Response:
    check_pre_csrf(request, csrf_token)
    user = svc.authenticate(db, username, password)
    if user is None:
        return pre_csrf_page(
            request,
            "login.html",
            {"error": "wrong username or password", "no_admin": not svc.has_admin(db)},
            401,
        )
    return login_response(request, user.id, "/")


@router.post("/logout", include_in_schema=False)
def logout(request: Request, me: PageUser, db: Db, csrf_token: str = Form("")) -> Response:
    check_form_csrf(me[1], csrf_token)
    svc.delete_session(db, request.cookies.get(SESSION_COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/api/health", tags=["meta"])
def health(db: Db) -> dict[str, Any]:
    """Liveness and whether the first admin exists (``has_admin`` false: the first-run page is open)."""
    return {"ok": True, "has_users": svc.has_users(db), "has_admin": svc.has_admin(db)}


@router.post("/api/login", tags=["auth"])
def api_login(body: LoginIn, db: Db) -> dict[str, Any]:
    """Exchange a username and password for a new API token."""
    user = svc.authenticate(db, body.username, body.password)
    if user is None:
        raise UnauthorizedError("wrong username or password")
    return {"token": svc.create_api_token(db, user.id, name=body.token_name), "user": user_dict(user)}


@router.get("/api/me", tags=["auth"])
def api_me(user: ApiUser) -> dict[str, Any]:
    """The authenticated user."""
    return user_dict(user)

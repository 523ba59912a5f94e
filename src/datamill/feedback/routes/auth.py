"""First run, login and logout (pages), and the API's login, identity and health.

Password checks (login, first run) run under the app's :class:`~datamill.feedback.limits.LoginLimits`: async
routes, so a flood waits on the event loop instead of holding the thread pool other requests need.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from datamill.errors import ConflictError, InputError, UnauthorizedError
from datamill.feedback import service as svc
from datamill.feedback.models import User
from datamill.feedback.routes.deps import (
    ApiUser,
    Db,
    PageUser,
    check_form_csrf,
    login_response,
    secure_request,
    session_cookie,
)
from datamill.feedback.routes.presession import check_pre_csrf, pre_csrf_page

__all__ = ["LoginIn", "router", "user_dict"]

router = APIRouter()

#: lifetime of a token minted by ``POST /api/login`` unless the request says otherwise (``expires_days``;
#: null for a token valid until revoked): a password login should not leave a key that never expires
LOGIN_TOKEN_DAYS = 30.0


class LoginIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    token_name: str = Field(default="client", max_length=64)
    #: the new token's lifetime in days (None: until revoked)
    expires_days: float | None = Field(default=LOGIN_TOKEN_DAYS, gt=0, le=3650)


def user_dict(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "role": u.role}


@router.get("/setup", include_in_schema=False)
def setup_page(request: Request, db: Db) -> Response:
    if svc.has_admin(db):
        return RedirectResponse("/login", status_code=303)
    return pre_csrf_page(request, "setup.html", {"error": None, "has_users": svc.has_users(db)})


def client_address(request: Request) -> str:
    """The client's address (uvicorn puts a trusted proxy's X-Forwarded-For here)."""
    return request.client.host if request.client else "?"


@router.post("/setup", include_in_schema=False)
async def setup_post(
    request: Request, db: Db, username: str = Form(""), password: str = Form(""), csrf_token: str = Form("")
) -> Response:
    check_pre_csrf(request, csrf_token)
    try:
        user = await request.app.state.limits.check_password(
            client_address(request),
            username,
            lambda: svc.create_user(db, username, password, role="admin", first_admin=True),
        )
    except (InputError, ConflictError) as exc:
        has_users = await run_in_threadpool(svc.has_users, db)
        return pre_csrf_page(request, "setup.html", {"error": str(exc), "has_users": has_users}, 422)
    await run_in_threadpool(
        lambda: svc.record(
            db, user["username"], "user.create", user["username"], role="admin", first_run=True
        )
    )
    return await run_in_threadpool(login_response, request, user["id"], "/")


@router.get("/login", include_in_schema=False)
def login_page(request: Request, db: Db) -> Response:
    if not svc.has_users(db):
        return RedirectResponse("/setup", status_code=303)
    return pre_csrf_page(request, "login.html", {"error": None, "no_admin": not svc.has_admin(db)})


async def _authenticate(request: Request, db: Any, username: str, password: str) -> User | None:
    return await request.app.state.limits.check_password(
        client_address(request), username, lambda: svc.authenticate(db, username, password)
    )


@router.post("/login", include_in_schema=False)
async def login_post(
    request: Request, db: Db, username: str = Form(""), password: str = Form(""), csrf_token: str = Form("")
) -> Response:
    check_pre_csrf(request, csrf_token)
    user = await _authenticate(request, db, username, password)
    if user is None:
        no_admin = not await run_in_threadpool(svc.has_admin, db)
        return pre_csrf_page(
            request, "login.html", {"error": "wrong username or password", "no_admin": no_admin}, 401
        )
    return await run_in_threadpool(login_response, request, user.id, "/")


@router.post("/logout", include_in_schema=False)
def logout(request: Request, me: PageUser, db: Db, csrf_token: str = Form("")) -> Response:
    check_form_csrf(me[1], csrf_token)
    name = session_cookie(request)
    svc.delete_session(db, request.cookies.get(name))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(name, path="/", secure=secure_request(request), httponly=True, samesite="lax")
    return resp


@router.get("/api/health", tags=["meta"])
def health(db: Db) -> dict[str, Any]:
    """Liveness and whether the first admin exists (``has_admin`` false: the first-run page is open)."""
    return {"ok": True, "has_users": svc.has_users(db), "has_admin": svc.has_admin(db)}


@router.post("/api/login", tags=["auth"])
async def api_login(request: Request, body: LoginIn, db: Db) -> dict[str, Any]:
    """Exchange a username and password for a new API token (429 with Retry-After past the login limits)."""
    user = await _authenticate(request, db, body.username, body.password)
    if user is None:
        raise UnauthorizedError("wrong username or password")
    token = await run_in_threadpool(
        svc.issue_api_token, db, user.id, name=body.token_name, expires_days=body.expires_days
    )
    return {"token": token["token"], "expires_at": token["expires_at"], "user": user_dict(user)}


@router.get("/api/me", tags=["auth"])
def api_me(user: ApiUser) -> dict[str, Any]:
    """The authenticated user."""
    return user_dict(user)

"""Users (admin) and API tokens: pages and API."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from datamill.errors import ConfigError, ConflictError, InputError
from datamill.feedback import service as svc
from datamill.feedback.routes.deps import ApiUser, Db, PageUser, check_form_csrf, need, page, quoted

__all__ = ["UserIn", "router"]

router = APIRouter()


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=1024)
    role: Literal["admin", "reviewer", "annotator"] = "annotator"


@router.get("/users", include_in_schema=False)
def users_page(request: Request, me: PageUser, db: Db) -> Response:
    need(me[0], "admin")
    return page(
        request,
        "users.html",
        {"user": me[0], "csrf": me[1], "users": svc.list_users(db), "error": request.query_params.get("msg")},
    )


@router.post("/users", include_in_schema=False)
def users_post(
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
        svc.create_user(db, username, password, role=role)
    except (InputError, ConfigError, ConflictError) as exc:
        return RedirectResponse(f"/users?msg={quoted(str(exc))}", status_code=303)
    return RedirectResponse("/users", status_code=303)


@router.get("/tokens", include_in_schema=False)
def tokens_page(request: Request, me: PageUser) -> Response:
    return page(request, "tokens.html", {"user": me[0], "csrf": me[1], "token": None})


@router.post("/tokens", include_in_schema=False)
def tokens_post(
    request: Request, me: PageUser, db: Db, name: str = Form("client"), csrf_token: str = Form("")
) -> Response:
    check_form_csrf(me[1], csrf_token)
    token = svc.create_api_token(db, me[0].id, name=name)
    return page(request, "tokens.html", {"user": me[0], "csrf": me[1], "token": token})


@router.get("/api/users", tags=["users"])
def api_users(user: ApiUser, db: Db) -> list[dict[str, Any]]:
    """All users (admin)."""
    need(user, "admin")
    return svc.list_users(db)


@router.post("/api/users", tags=["users"], status_code=201)
def api_create_user(body: UserIn, user: ApiUser, db: Db) -> dict[str, Any]:
    """Create a user (admin)."""
    need(user, "admin")
    return svc.create_user(db, body.username, body.password, role=body.role)

"""API tokens: the tokens page (create with an expiry, list, revoke) and the API (owner; admin: everyone's)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from datamill.feedback import service as svc
from datamill.feedback.routes.deps import ApiUser, Db, PageUser, RowId, check_form_csrf, need, page

__all__ = ["TokenIn", "router"]

router = APIRouter()

#: the expiry choices of the tokens page, in days ("" = until revoked)
EXPIRY_CHOICES = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "never")]


class TokenIn(BaseModel):
    name: str = Field(default="client", max_length=64)
    expires_days: float | None = Field(
        default=None, gt=0, le=3650, description="Days until the token stops working; null: until revoked."
    )


def _tokens_page(request: Request, me: Any, db: Any, new: dict[str, Any] | None = None) -> Response:
    user = me[0]
    return page(
        request,
        "tokens.html",
        {
            "user": user,
            "csrf": me[1],
            "token": new["token"] if new else None,
            "mine": svc.list_api_tokens(db, user_id=user.id),
            "everyone": svc.list_api_tokens(db) if user.role == "admin" else None,
            "expiry_choices": EXPIRY_CHOICES,
        },
    )


@router.get("/tokens", include_in_schema=False)
def tokens_page(request: Request, me: PageUser, db: Db) -> Response:
    return _tokens_page(request, me, db)


@router.post("/tokens", include_in_schema=False)
def tokens_post(
    request: Request,
    me: PageUser,
    db: Db,
    name: str = Form("client"),
    expires_days: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    from datamill.errors import InputError

    check_form_csrf(me[1], csrf_token)
    raw = expires_days.strip()
    try:
        days = float(raw) if raw else None
    except ValueError:
        raise InputError(f"expires_days must be a number of days, got {raw[:20]!r}") from None
    new = svc.issue_api_token(db, me[0].id, name=name, expires_days=days)
    svc.record(db, me[0], "token.create", me[0].username, token_id=new["id"], expires_at=new["expires_at"])
    return _tokens_page(request, me, db, new)


@router.post("/tokens/{token_id}/revoke", include_in_schema=False)
def tokens_revoke(token_id: RowId, me: PageUser, db: Db, csrf_token: str = Form("")) -> Response:
    check_form_csrf(me[1], csrf_token)
    out = svc.revoke_api_token(db, token_id, user=me[0])
    svc.record(db, me[0], "token.revoke", out["user_id"], token_id=token_id, name=out["name"])
    return RedirectResponse("/tokens", status_code=303)


@router.get("/api/tokens", tags=["auth"])
def api_tokens(user: ApiUser, db: Db, all: bool = False) -> list[dict[str, Any]]:  # noqa: A002
    """Your API tokens (never the secret itself); ``all=true``: everyone's (admin)."""
    if all:
        need(user, "admin")
        return svc.list_api_tokens(db)
    return svc.list_api_tokens(db, user_id=user.id)


@router.post("/api/tokens", tags=["auth"], status_code=201)
def api_create_token(body: TokenIn, user: ApiUser, db: Db) -> dict[str, Any]:
    """A new API token of yours (shown once), valid ``expires_days`` days or until revoked."""
    new = svc.issue_api_token(db, user.id, name=body.name, expires_days=body.expires_days)
    svc.record(db, user, "token.create", user.username, token_id=new["id"], expires_at=new["expires_at"])
    return new


@router.delete("/api/tokens/{token_id}", tags=["auth"])
def api_revoke_token(token_id: RowId, user: ApiUser, db: Db) -> dict[str, Any]:
    """Revoke an API token: your own, or anyone's (admin). It stops working at once on this server
    process, within a few seconds on the others."""
    out = svc.revoke_api_token(db, token_id, user=user)
    svc.record(db, user, "token.revoke", out["user_id"], token_id=token_id, name=out["name"])
    return out

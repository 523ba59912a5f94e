"""What every route shares: the database, the current user, role and CSRF checks, and page rendering.

Auth: browser sessions (HttpOnly, SameSite=Lax cookie; Secure over https) with a per-session CSRF
token required on every state-changing request, or ``Authorization: Bearer <API token>`` for the client.
Roles: admin > reviewer > annotator, checked server-side on every route. The login and first-run forms,
before any session exists, are checked by :mod:`datamill.feedback.routes.presession` instead.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from datamill.errors import ForbiddenError, NeedLogin, UnauthorizedError
from datamill.feedback import service as svc
from datamill.feedback.db import Database
from datamill.feedback.models import MAX_ROW_ID, User
from datamill.feedback.render import render_markdown

__all__ = [
    "ApiUser",
    "Db",
    "MESSAGES",
    "PageUser",
    "SESSION_COOKIE",
    "api_user",
    "auth",
    "check_form_csrf",
    "get_db",
    "login_response",
    "need",
    "notice",
    "page",
    "page_user",
    "secure_request",
    "session_cookie",
    "templates",
]

SESSION_COOKIE = "dm_session"
RANK = {"annotator": 0, "reviewer": 1, "admin": 2}

templates = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
templates.env.filters["md"] = render_markdown


# ---------------------------------------------------------------- database and user
async def get_db(request: Request) -> Database:
    # async: the hot paths resolve it on the event loop, no thread hop
    return request.app.state.db


def auth(request: Request) -> tuple[User, str | None] | None:
    """The user of the request's API token (CSRF None) or session cookie (with its CSRF token), or None."""
    db = request.app.state.db
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = svc.token_user(db, header[7:].strip())
        return (user, None) if user is not None else None
    return svc.session_user(db, request.cookies.get(session_cookie(request)))


async def api_user(request: Request) -> User:
    """The user of an API request (401 without one); a session must send its CSRF token to change anything."""
    # async, so a request whose API token was seen in the last seconds costs no thread hop and no query;
    # anything else (new token, session cookie) looks the database up in the thread pool
    header = request.headers.get("authorization", "")
    bearer = header.lower().startswith("bearer ")
    user = svc.cached_token_user(request.app.state.db, header[7:].strip()) if bearer else None
    if user is None and bearer:  # an address guessing tokens is stopped before it costs a query each
        address = request.client.host if request.client else "?"
        request.app.state.limits.check_token_address(address)
    found = (user, None) if user is not None else await run_in_threadpool(auth, request)
    if found is None:
        if bearer:
            request.app.state.limits.bad_token(address)
        raise UnauthorizedError("authentication required: log in or send Authorization: Bearer <token>")
    user, csrf = found
    if csrf is not None and request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.headers.get("x-csrf-token", "")
        if not secrets.compare_digest(sent, csrf):
            raise ForbiddenError("missing or wrong X-CSRF-Token header")
    return user


def page_user(request: Request) -> tuple[User, str]:
    """The session user of a page and the session's CSRF token; no session: off to the login page."""
    found = auth(request)
    if found is None or found[1] is None:
        raise NeedLogin()
    return found  # type: ignore[return-value]


Db = Annotated[Database, Depends(get_db)]
ApiUser = Annotated[User, Depends(api_user)]
PageUser = Annotated[tuple[User, str], Depends(page_user)]
# a row id in a URL: what an integer column holds on both databases (a larger one was a 500 from the driver)
RowId = Annotated[int, PathParam(ge=1, le=MAX_ROW_ID)]


# ---------------------------------------------------------------- roles and CSRF
def need(user: User, role: str) -> None:
    """Refuse (403) a user below ``role``."""
    if RANK.get(user.role, -1) < RANK[role]:
        raise ForbiddenError(f"this needs the {role} role (you are {user.role})")


def check_form_csrf(csrf: str, sent: str | None) -> None:
    """Refuse (403) a form of a session whose ``csrf_token`` field is not the session's token."""
    if not sent or not secrets.compare_digest(sent, csrf):
        raise ForbiddenError("missing or wrong CSRF token; reload the page and try again")


# ---------------------------------------------------------------- pages and cookies
def page(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A rendered template."""
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def secure_request(request: Request) -> bool:
    """Whether cookies get the ``Secure`` flag: forced by the app, else when the request is https."""
    forced = request.app.state.secure_cookies
    return request.url.scheme == "https" if forced is None else forced


def session_cookie(request: Request) -> str:
    """The session cookie's name: ``__Host-``-prefixed over https, so a sibling subdomain or a plain-http
    page of the same host cannot plant one (session fixation); the unprefixed name is never read there."""
    return f"__Host-{SESSION_COOKIE}" if secure_request(request) else SESSION_COOKIE


def login_response(request: Request, user_id: int, target: str) -> Response:
    """A new session for ``user_id``: its cookie set on a redirect to ``target``."""
    from datamill.feedback.routes.presession import delete_pre_csrf

    token, _csrf = svc.create_session(request.app.state.db, user_id)
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(
        session_cookie(request),
        token,
        httponly=True,
        samesite="lax",
        secure=secure_request(request),
        max_age=svc.SESSION_DAYS * 86400,
        path="/",
    )
    delete_pre_csrf(request, resp)
    return resp


#: what a ``?msg=`` code shows: only text the server wrote (a query string's own text is never shown, so a
#: link cannot make the site say something it did not)
MESSAGES = {"imported": "Tasks imported: all rows of the file are in the project."}


def notice(request: Request) -> str | None:
    """The message of the request's ``?msg=`` code, or None for no code or an unknown one."""
    return MESSAGES.get(request.query_params.get("msg", ""))

"""CSRF before any session exists: the login and first-run forms.

Two checks, each enough against a forged login (an attacker's page logging the victim's browser in as the
attacker, so that what the victim then types lands in the attacker's account):

- the form's token must match a pre-session cookie whose value only this server can mint: a random nonce
  and a timestamp signed with the app's secret (HMAC-SHA256), the form token a second HMAC of that nonce. A
  value set by a page on another port or subdomain (cookie tossing) has no valid signature. Over https the
  cookie is ``__Host-``-prefixed, which a sibling subdomain cannot set at all.
- the request must come from this origin: browsers send ``Sec-Fetch-Site`` (``same-origin`` for the app's
  own form); a browser without it is checked by its ``Origin`` header against ``Host``. A client that sends
  neither (curl, the test client) is no browser, so no victim's cookies ride along.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from datamill.errors import ForbiddenError

__all__ = ["PRE_CSRF_COOKIE", "PRE_CSRF_MAX_AGE", "check_pre_csrf", "check_same_origin", "pre_csrf_page"]

PRE_CSRF_COOKIE = "dm_precsrf"
#: how long a login page's token stays good (seconds)
PRE_CSRF_MAX_AGE = 4 * 3600


def _mac(request: Request, what: str) -> str:
    key: bytes = request.app.state.secret
    return hmac.new(key, what.encode(), hashlib.sha256).hexdigest()[:43]


def _cookie_name(request: Request) -> str:
    from datamill.feedback.routes.deps import secure_request

    return f"__Host-{PRE_CSRF_COOKIE}" if secure_request(request) else PRE_CSRF_COOKIE


def _nonce(request: Request, cookie: str | None) -> str | None:
    """The nonce of a pre-session cookie this server minted and that has not expired, or None."""
    parts = (cookie or "").split(".")
    if len(parts) != 3 or not parts[1].isascii() or not parts[1].isdigit():
        return None
    nonce, stamp, sig = parts
    if not hmac.compare_digest(sig, _mac(request, f"cookie:{nonce}.{stamp}")):
        return None
    return nonce if 0 <= time.time() - int(stamp) <= PRE_CSRF_MAX_AGE else None


def pre_csrf_page(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> Response:
    """A page with a form used before any session exists, its token bound to a signed pre-session cookie."""
    from datamill.feedback.routes.deps import page, secure_request

    cookie_name = _cookie_name(request)
    cookie = request.cookies.get(cookie_name)
    nonce = _nonce(request, cookie)
    if nonce is None or cookie is None:
        nonce, stamp = secrets.token_urlsafe(16), str(int(time.time()))
        cookie = f"{nonce}.{stamp}.{_mac(request, f'cookie:{nonce}.{stamp}')}"
    resp = page(request, name, {**ctx, "csrf": _mac(request, f"form:{nonce}"), "user": None}, status)
    resp.set_cookie(
        cookie_name,
        cookie,
        max_age=PRE_CSRF_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=secure_request(request),
        path="/",
    )
    return resp


def check_same_origin(request: Request) -> None:
    """Refuse (403) a request a browser sent from another origin (another site, port or subdomain)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site not in ("same-origin", "none"):
            raise ForbiddenError(f"a form posted from another site ({site}) is refused; use this site's form")
        return
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
        raise ForbiddenError("a form posted from another origin is refused; use this site's form")


def check_pre_csrf(request: Request, sent: str) -> None:
    """Refuse (403) a login or first-run form from another origin or without this server's signed token."""
    check_same_origin(request)
    nonce = _nonce(request, request.cookies.get(_cookie_name(request)))
    if nonce is None or not hmac.compare_digest(_mac(request, f"form:{nonce}"), sent or ""):
        raise ForbiddenError("missing, expired or wrong CSRF token; reload the page and try again")


def delete_pre_csrf(request: Request, resp: Response) -> None:
    """Drop the pre-session cookie (a session now exists)."""
    from datamill.feedback.routes.deps import secure_request

    resp.delete_cookie(_cookie_name(request), path="/", secure=secure_request(request), httponly=True)

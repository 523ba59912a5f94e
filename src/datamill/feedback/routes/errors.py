"""The one exception handler: datamill's error hierarchy to HTTP.

A :class:`~datamill.errors.NeedLogin` on a page redirects to the login (or first-run) page; any other
:class:`~datamill.errors.DatamillError` answers with its status (a ``FeedbackError``'s own, 422 for bad input
or parameters, 503 for storage, else 400): JSON ``{"error", "status"}`` for the API and for clients not
asking for HTML, the error page for a browser.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from datamill.errors import ConfigError, DatamillError, InputError, NeedLogin, StorageError
from datamill.feedback import service as svc
from datamill.feedback.routes.deps import auth, page

__all__ = ["handle_error", "http_status"]


def http_status(exc: DatamillError) -> int:
    """The HTTP status of an error."""
    return getattr(exc, "status", None) or (
        422 if isinstance(exc, (InputError, ConfigError)) else 503 if isinstance(exc, StorageError) else 400
    )


async def handle_error(request: Request, exc: Exception) -> Response:
    """Answer a request that raised a DatamillError."""
    assert isinstance(exc, DatamillError)  # registered for DatamillError only
    if isinstance(exc, NeedLogin):
        target = "/login" if svc.has_admin(request.app.state.db) else "/setup"
        return RedirectResponse(target, status_code=303)
    status = http_status(exc)
    retry = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry)} if retry is not None else None
    if request.url.path.startswith("/api") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": str(exc), "status": status}, status_code=status, headers=headers)
    found = auth(request) if status not in (429, 503) else None  # a flood costs no session lookups
    resp = page(
        request,
        "error.html",
        {"user": found[0] if found else None, "csrf": None, "message": str(exc), "status": status},
        status,
    )
    resp.headers.update(headers or {})
    return resp

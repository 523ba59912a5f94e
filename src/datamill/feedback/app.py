"""The FastAPI app: server-rendered pages (Jinja, a little plain JS) and the JSON API under ``/api``.

The routes live in :mod:`datamill.feedback.routes`, one module per resource; auth, roles and CSRF in
:mod:`datamill.feedback.routes.deps`; errors become HTTP answers in one handler
(:mod:`datamill.feedback.routes.errors`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from datamill.errors import DatamillError
from datamill.feedback.db import Database
from datamill.feedback.guard import InputGuard
from datamill.feedback.limits import LoginLimits, LoginThrottle

__all__ = ["SECRET_ENV", "app_from_env", "create_app", "proxy_options"]

#: the environment variable holding the app's signing key (shared by the processes of one server)
SECRET_ENV = "DATAMILL_FEEDBACK_SECRET"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def create_app(
    db: Database | str | None = None,
    *,
    secure_cookies: bool | None = None,
    secret: str | bytes | None = None,
    login_limits: LoginLimits | None = None,
) -> FastAPI:
    """The feedback web app on ``db`` (a Database or URL; default ``$DATABASE_URL`` or a SQLite file).

    Args:
        db: the database (migrated on open).
        secure_cookies: force the cookie ``Secure`` flag; by default it is set when the request is https.
        secret: the key signing pre-session (login form) tokens; default ``$DATAMILL_FEEDBACK_SECRET``, else
            a random one per process (``serve --workers N`` hands its workers one through that variable).
        login_limits: the login throttle and password-hashing bound (default :class:`LoginLimits`()).
    """
    from datamill.feedback.routes import ROUTERS
    from datamill.feedback.routes.errors import handle_error

    database = db if isinstance(db, Database) else Database(db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not database.is_sqlite:  # no request waits for, or churns, a connection outside the pool
            import anyio.to_thread

            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = min(limiter.total_tokens, Database.POOL_SIZE)
        yield

    app = FastAPI(
        title="datamill feedback",
        version="1",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        description="Human feedback (RLHF) annotation: projects, task queues, judgements, agreement, "
        "export. Authenticate with `Authorization: Bearer <token>` (POST /api/login).",
    )
    app.state.db = database
    app.state.secure_cookies = secure_cookies
    key = secret or os.environ.get(SECRET_ENV) or secrets.token_bytes(32)
    app.state.secret = key.encode() if isinstance(key, str) else key
    app.state.limits = login_limits or LoginLimits()
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    app.add_exception_handler(DatamillError, handle_error)
    app.add_middleware(InputGuard)
    app.add_middleware(LoginThrottle)  # before the guard reads a body
    app.add_middleware(_SecurityHeaders)  # the outermost: refusals carry the headers too
    for router in ROUTERS:
        app.include_router(router)
    return app


class _SecurityHeaders:
    """Pure ASGI middleware adding CSP and friends to every response (cheaper than BaseHTTPMiddleware)."""

    HEADERS = [
        (b"content-security-policy", CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    ]

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def app_from_env() -> FastAPI:
    """App factory for multi-worker uvicorn: the database URL comes from ``$DATABASE_URL``, and
    ``$DATAMILL_FEEDBACK_SECURE_COOKIES=1`` forces Secure cookies (``serve --secure-cookies``)."""
    import os

    forced = os.environ.get("DATAMILL_FEEDBACK_SECURE_COOKIES") == "1"
    return create_app(None, secure_cookies=True if forced else None)


def proxy_options(forwarded_allow_ips: str | None) -> dict[str, Any]:
    """uvicorn options for proxy headers: ``X-Forwarded-Proto``/``-For`` are believed only from the proxy
    addresses given (comma-separated, or ``*``); with None no request may claim https or another client
    address (uvicorn alone would trust them from 127.0.0.1)."""
    if forwarded_allow_ips is not None and not forwarded_allow_ips.strip():
        from datamill.errors import ConfigError

        raise ConfigError("forwarded_allow_ips is empty; give the proxy's address(es), e.g. 127.0.0.1")
    return {"proxy_headers": forwarded_allow_ips is not None, "forwarded_allow_ips": forwarded_allow_ips}

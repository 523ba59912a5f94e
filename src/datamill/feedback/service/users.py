"""Users, password checks, browser sessions and API tokens."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import timedelta
from typing import Any

from datamill.errors import ConfigError, ConflictError, ForbiddenError, InputError, NotFoundError
from datamill.feedback.db import Database
from datamill.feedback.models import ROLES, ApiToken, Session, User, utcnow
from datamill.feedback.textsafe import check_text

__all__ = [
    "ARGON2_PARAMS",
    "SESSION_DAYS",
    "TOKEN_CACHE_SECONDS",
    "authenticate",
    "cached_token_user",
    "create_api_token",
    "create_session",
    "create_user",
    "delete_session",
    "has_admin",
    "has_users",
    "list_users",
    "session_user",
    "token_user",
    "user_by_name",
]

SESSION_DAYS = 7
TOKEN_CACHE_SECONDS = 10.0
#: argon2 parameters (argon2-cffi defaults: RFC 9106 low-memory profile); tests may lower them for speed
ARGON2_PARAMS: dict[str, Any] = {}


def _ph() -> Any:
    """The password hasher of the current ARGON2_PARAMS (a change to them takes effect at the next call)."""
    return _hasher(tuple(sorted(ARGON2_PARAMS.items())))


@functools.lru_cache(maxsize=4)
def _hasher(params: tuple[tuple[str, Any], ...]) -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher(**dict(params))


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def has_users(db: Database) -> bool:
    from sqlalchemy import select

    with db.read() as s:
        return s.scalar(select(User.id).limit(1)) is not None


def has_admin(db: Database) -> bool:
    """Whether an active admin exists; until one does, the app offers the first-run admin creation."""
    from sqlalchemy import select

    with db.read() as s:
        return (
            s.scalar(select(User.id).where(User.role == "admin", User.active.is_(True)).limit(1)) is not None
        )


def create_user(
    db: Database, username: str, password: str, *, role: str = "annotator", first_admin: bool = False
) -> dict[str, Any]:
    """Create a user (argon2-hashed password). ``first_admin`` succeeds only while no active admin exists
    (a seeded demo database holds simulated annotators but no admin)."""
    from sqlalchemy import func, select, text
    from sqlalchemy.exc import IntegrityError

    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
    check_text(username=username, password=password)
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise InputError("username must be 1-64 characters without spaces")
    if len(password) < 8:
        raise InputError("password must have at least 8 characters")
    pw_hash = _ph().hash(password)
    try:
        with db.write() as s:
            if first_admin:
                if not db.is_sqlite:  # two racing first-run forms: the second waits, then sees the admin
                    s.execute(text("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"))
                if s.scalar(select(func.count(User.id)).where(User.role == "admin", User.active.is_(True))):
                    raise ForbiddenError("an admin already exists; log in instead")
            user = User(username=username, password_hash=pw_hash, role=role, active=True)
            s.add(user)
            s.flush()
            return {"id": user.id, "username": user.username, "role": user.role}
    except IntegrityError:
        raise ConflictError(f"user {username!r} already exists") from None


def authenticate(db: Database, username: str, password: str) -> User | None:
    from argon2.exceptions import VerifyMismatchError
    from sqlalchemy import select

    with db.read() as s:
        user = s.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        _ph().hash(password)  # same work either way: no user-enumeration by timing
        return None
    try:
        _ph().verify(user.password_hash, password)
    except (VerifyMismatchError, Exception):  # noqa: BLE001 - invalid hash counts as a mismatch
        return None
    return user


def create_session(db: Database, user_id: int) -> tuple[str, str]:
    """A new login session: returns ``(cookie_token, csrf_token)``."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with db.write() as s:
        s.add(
            Session(
                token_hash=_sha(token),
                user_id=user_id,
                csrf=csrf,
                expires_at=utcnow() + timedelta(days=SESSION_DAYS),
            )
        )
    return token, csrf


def session_user(db: Database, token: str | None) -> tuple[User, str] | None:
    """The user and CSRF token of a live session cookie, or None."""
    if not token:
        return None
    with db.read() as s:
        sess = s.get(Session, _sha(token))
        if sess is None or sess.expires_at < utcnow():
            return None
        user = s.get(User, sess.user_id)
        if user is None or not user.active:
            return None
        return user, sess.csrf


def delete_session(db: Database, token: str | None) -> None:
    from sqlalchemy import delete

    if token:
        with db.write() as s:
            s.execute(delete(Session).where(Session.token_hash == _sha(token)))


def create_api_token(db: Database, user_id: int, *, name: str = "") -> str:
    """A new API token for the Python client (shown once; only its SHA-256 is stored)."""
    token = "dmf_" + secrets.token_urlsafe(32)
    with db.write() as s:
        s.add(ApiToken(user_id=user_id, token_hash=_sha(token), name=name[:64]))
    return token


def cached_token_user(db: Database, token: str) -> User | None:
    """The user of an API token looked up in the last TOKEN_CACHE_SECONDS, without touching the database."""
    import time

    hit = db.cache.get(("token", _sha(token)))
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def token_user(db: Database, token: str) -> User | None:
    """The active user owning an API token (remembered for TOKEN_CACHE_SECONDS: one query less per request)."""
    import time

    from sqlalchemy import select

    hit = cached_token_user(db, token)
    if hit is not None:
        return hit
    digest = _sha(token)
    with db.read() as s:
        user = s.scalar(
            select(User).join(ApiToken, ApiToken.user_id == User.id).where(ApiToken.token_hash == digest)
        )
    user = user if user is not None and user.active else None
    if user is not None and len(db.cache) < 10_000:
        db.cache[("token", digest)] = (time.monotonic() + TOKEN_CACHE_SECONDS, user)
    return user


def user_by_name(db: Database, username: str) -> User:
    from sqlalchemy import select

    with db.read() as s:
        user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def list_users(db: Database) -> list[dict[str, Any]]:
    from sqlalchemy import select

    with db.read() as s:
        return [
            {"id": u.id, "username": u.username, "role": u.role, "active": u.active}
            for u in s.scalars(select(User).order_by(User.id))
        ]

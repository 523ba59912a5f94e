"""Users, password checks, browser sessions and API tokens."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import timedelta
from typing import Any

from datamill.errors import ConfigError, ConflictError, ForbiddenError, InputError, NotFoundError
from datamill.feedback.db import Database
from datamill.feedback.models import ROLES, ApiToken, Session, User, row_id, utcnow
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
    "issue_api_token",
    "list_api_tokens",
    "list_users",
    "revoke_api_token",
    "session_user",
    "token_user",
    "update_user",
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


def create_api_token(db: Database, user_id: int, *, name: str = "", expires_days: float | None = None) -> str:
    """A new API token for the Python client (shown once; only its SHA-256 is stored).

    Args:
        name: what the token is for (listed beside it).
        expires_days: days until it stops working; None: until revoked.
    """
    return issue_api_token(db, user_id, name=name, expires_days=expires_days)["token"]


def issue_api_token(
    db: Database, user_id: int, *, name: str = "", expires_days: float | None = None
) -> dict[str, Any]:
    """:func:`create_api_token` answering ``{"id", "token", "name", "expires_at"}``."""
    if expires_days is not None and not 0 < expires_days <= 3650:
        raise ConfigError(f"expires_days must be in (0, 3650], got {expires_days!r}", params="expires_days")
    token = "dmf_" + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=expires_days) if expires_days is not None else None
    with db.write() as s:
        t = ApiToken(user_id=user_id, token_hash=_sha(token), name=name[:64], expires_at=expires)
        s.add(t)
        s.flush()
        tid = t.id
    return {
        "id": tid,
        "token": token,
        "name": name[:64],
        "expires_at": expires.isoformat() if expires else None,
    }


def list_api_tokens(db: Database, *, user_id: int | None = None) -> list[dict[str, Any]]:
    """API tokens (never the token itself): of one user, or everyone's (``user_id`` None), newest first."""
    from sqlalchemy import select

    now = utcnow()
    with db.read() as s:
        q = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
        if user_id is not None:
            q = q.where(ApiToken.user_id == user_id)
        rows = s.execute(q.order_by(ApiToken.id.desc())).all()
    return [
        {
            "id": t.id,
            "name": t.name,
            "user_id": t.user_id,
            "username": name,
            "created_at": t.created_at.isoformat(),
            "expires_at": t.expires_at.isoformat() if t.expires_at else None,
            "expired": t.expires_at is not None and t.expires_at <= now,
        }
        for t, name in rows
    ]


def revoke_api_token(db: Database, token_id: int, *, user: User | None = None) -> dict[str, Any]:
    """Delete an API token: ``user`` may revoke their own, an admin anyone's (``user`` None: the command
    line, trusted). A token the user may not touch is a NotFoundError, like one that does not exist."""
    with db.write() as s:
        t = s.get(ApiToken, token_id)
        if t is None or (user is not None and user.role != "admin" and t.user_id != user.id):
            raise NotFoundError(f"no API token {token_id}")
        out = {"id": t.id, "name": t.name, "user_id": t.user_id}
        digest = t.token_hash
        s.delete(t)
    db.cache.pop(("token", digest), None)  # at once here; other server processes within TOKEN_CACHE_SECONDS
    return out


def cached_token_user(db: Database, token: str) -> User | None:
    """The user of an API token looked up in the last TOKEN_CACHE_SECONDS, without touching the database."""
    import time

    hit = db.cache.get(("token", _sha(token)))
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def _until(expires_at: Any) -> float:
    """Seconds from now until ``expires_at`` (a naive UTC datetime), or a day for none."""
    return 86400.0 if expires_at is None else (expires_at - utcnow()).total_seconds()


def token_user(db: Database, token: str) -> User | None:
    """The active user owning an API token (remembered for TOKEN_CACHE_SECONDS: one query less per request)."""
    import time

    from sqlalchemy import select

    hit = cached_token_user(db, token)
    if hit is not None:
        return hit
    digest = _sha(token)
    with db.read() as s:
        row = s.execute(
            select(User, ApiToken.expires_at)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == digest)
        ).first()
    if row is None or not row[0].active:
        return None
    user, left = row[0], _until(row[1])
    if left <= 0:  # expired
        return None
    if len(db.cache) < 10_000:  # remembered no longer than the token lives
        db.cache[("token", digest)] = (time.monotonic() + min(TOKEN_CACHE_SECONDS, left), user)
    return user


def user_by_name(db: Database, username: str) -> User:
    from sqlalchemy import select

    with db.read() as s:
        user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def update_user(
    db: Database, user: int | str, *, role: str | None = None, active: bool | None = None
) -> dict[str, Any]:
    """Change a user's role and/or deactivate (or reactivate) them; a deactivated user's sessions end and
    their API tokens stop working. The last active admin cannot be demoted or deactivated.

    Returns ``{"id", "username", "role", "active", "changed"}`` (``changed``: the fields that changed)."""
    from sqlalchemy import delete, func, select

    if role is not None and role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
    if role is None and active is None:
        raise ConfigError("give role= and/or active=")
    with db.write() as s:
        u = None
        if (uid := row_id(user)) is not None:
            u = s.get(User, uid)
        if u is None:
            u = s.scalar(select(User).where(User.username == str(user)))
        if u is None:
            raise NotFoundError(f"no user {user!r}")
        changed = {}
        if role is not None and role != u.role:
            changed["role"] = [u.role, role]
        if active is not None and active != u.active:
            changed["active"] = [u.active, active]
        stays_admin = (role or u.role) == "admin" and (u.active if active is None else active)
        if u.role == "admin" and u.active and not stays_admin:
            if not db.is_sqlite:
                s.execute(_admin_lock())
            admins = s.scalar(select(func.count(User.id)).where(User.role == "admin", User.active.is_(True)))
            if admins <= 1:
                raise ConflictError(f"{u.username!r} is the last active admin; make another admin first")
        if role is not None:
            u.role = role
        if active is not None:
            u.active = active
            if not active:
                s.execute(delete(Session).where(Session.user_id == u.id))
        out = {"id": u.id, "username": u.username, "role": u.role, "active": u.active, "changed": changed}
    _forget_user(db, out["id"])
    return out


def _admin_lock() -> Any:
    """PostgreSQL: serialise changes that count admins (two admins demoting each other at once)."""
    from sqlalchemy import text

    return text("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")


def _forget_user(db: Database, user_id: int) -> None:
    """Drop what this process remembers of a user (their API tokens' lookups, their project access)."""
    for key, hit in list(db.cache.items()):
        if (
            isinstance(key, tuple)
            and key
            and (
                (key[0] == "token" and getattr(hit[1], "id", None) == user_id)
                or (key[0] == "access" and key[1] == user_id)
            )
        ):
            db.cache.pop(key, None)


def list_users(db: Database) -> list[dict[str, Any]]:
    from sqlalchemy import select

    with db.read() as s:
        return [
            {"id": u.id, "username": u.username, "role": u.role, "active": u.active}
            for u in s.scalars(select(User).order_by(User.id))
        ]

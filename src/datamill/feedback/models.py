"""SQLAlchemy 2 models of the feedback app (the schema Alembic migrations create)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from datamill.feedback.textsafe import scrub

__all__ = [
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "Base",
    "HARM_CATEGORIES",
    "HARM_TYPES",
    "Judgement",
    "MAX_ROW_ID",
    "Membership",
    "PAIRWISE_TYPES",
    "Project",
    "ROLES",
    "Resolution",
    "SafeJSON",
    "Session",
    "TASK_TYPES",
    "Task",
    "User",
    "row_id",
    "utcnow",
]

ROLES = ("admin", "reviewer", "annotator")
TASK_TYPES = ("pairwise", "ranking", "rubric", "rewrite", "comment", "harm", "harm-pairwise")
#: the types judged by picking one of two responses ("harm-pairwise": which is less harmful)
PAIRWISE_TYPES = ("pairwise", "harm-pairwise")
#: the types whose ``criteria`` are a taxonomy of harm categories
HARM_TYPES = ("harm", "harm-pairwise")
#: the harm categories of a harmlessness project unless it names its own (red-team taxonomies such as
#: BeaverTails' 14 categories and the Anthropic red-team tags, merged into a dozen an annotator can keep
#: in mind)
HARM_CATEGORIES = [
    "violence",
    "weapons",
    "self-harm",
    "sexual",
    "hate",
    "harassment",
    "crime",
    "drugs",
    "privacy",
    "misinformation",
    "fraud",
    "other",
]
#: the largest row id both databases hold (a PostgreSQL INTEGER; SQLite's go to 2**63 - 1): an id past it
#: is refused (422) or looked up as a name, the same on both, never sent to the database driver
MAX_ROW_ID = 2**31 - 1


def row_id(ref: Any) -> int | None:
    """``ref`` as a row id both databases can look up (an int, or ASCII digits: "²" is no id), else None."""
    if isinstance(ref, bool):
        return None
    if isinstance(ref, str):
        ref = int(ref) if ref.isascii() and ref.isdigit() and len(ref) <= 12 else None
    return ref if isinstance(ref, int) and 0 < ref <= MAX_ROW_ID else None


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class SafeJSON(TypeDecorator[Any]):
    """JSON whose values come back scrubbed (:func:`~datamill.feedback.textsafe.scrub`): a lone surrogate or a
    NaN stored before input was checked no longer breaks every response and export that touches the row."""

    impl = JSON
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return scrub(value)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: SafeJSON, list[Any]: SafeJSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Session(Base):
    """A browser login: the cookie holds a random token, the table its SHA-256 (a DB leak is no login)."""

    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: none: valid until revoked
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    task_type: Mapped[str] = mapped_column(String(16))
    guidelines: Mapped[str] = mapped_column(Text, default="")
    overlap: Mapped[int] = mapped_column(Integer, default=1)
    gold_rate: Mapped[float] = mapped_column(Float, default=0.0)
    criteria: Mapped[list[Any]] = mapped_column(SafeJSON, default=list)
    scale: Mapped[int] = mapped_column(Integer, default=5)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Membership(Base):
    """A non-admin user's access to a project: members see it, take its tasks, read its guidelines (and
    reviewers its agreement and export); admins see every project without one."""

    __tablename__ = "memberships"
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("project_id", "external_id", name="uq_task_external"),
        # the queue query walks this index: tasks closest to their overlap first
        Index("ix_tasks_queue", "project_id", "is_gold", "n_assigned", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(255))
    prompt: Mapped[str] = mapped_column(Text, default="")
    messages: Mapped[list[Any]] = mapped_column(SafeJSON, default=list)
    responses: Mapped[list[Any]] = mapped_column(SafeJSON, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(SafeJSON, default=dict)
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    gold: Mapped[dict[str, Any] | None] = mapped_column(SafeJSON, nullable=True)
    n_assigned: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Assignment(Base):
    """A task handed to one annotator, with the display order (permutation) they saw."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("task_id", "user_id", name="uq_assignment_task_user"),
        # next-task: this annotator's open assignment in a project, one seek at any history length
        Index("ix_assignments_queue", "user_id", "project_id", "status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    order: Mapped[list[Any]] = mapped_column(SafeJSON)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    skip_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Judgement(Base):
    """One annotator's answer to one task; ``client_key`` makes submits idempotent."""

    __tablename__ = "judgements"
    __table_args__ = (
        UniqueConstraint("user_id", "client_key", name="uq_judgement_client_key"),
        UniqueConstraint("task_id", "user_id", name="uq_judgement_task_user"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    client_key: Mapped[str] = mapped_column(String(64))
    value: Mapped[dict[str, Any]] = mapped_column(SafeJSON)
    comment: Mapped[str] = mapped_column(Text, default="")
    order: Mapped[list[Any]] = mapped_column(SafeJSON)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    gold_correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Resolution(Base):
    """An admin's final answer for a task whose judgements disagree."""

    __tablename__ = "resolutions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    value: Mapped[dict[str, Any]] = mapped_column(SafeJSON)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuditEvent(Base):
    """One admin action (users, roles, memberships, tokens, projects, imports, exports, resolutions)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    #: who did it: a user (kept by name if the user is deleted), or the command line
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

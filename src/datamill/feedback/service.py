"""The feedback app's library: users, projects, task import, queues, judgements, resolutions.

Every web route and CLI verb is one call here. Values of judgements are stored in *canonical*
response indices (the order of ``task.responses``); what an annotator saw is the permutation
``order`` kept on the assignment and the judgement (``order[displayed_position] = canonical index``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import secrets
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from datamill.errors import (
    ConfigError,
    ConflictError,
    FeedbackError,
    ForbiddenError,
    InputError,
    NotFoundError,
)
from datamill.feedback.db import Database
from datamill.feedback.models import (
    ROLES,
    TASK_TYPES,
    ApiToken,
    Assignment,
    Judgement,
    Project,
    Resolution,
    Session,
    Task,
    User,
    utcnow,
)

__all__ = [
    "ConflictError",
    "DEFAULT_CRITERIA",
    "FeedbackError",
    "ForbiddenError",
    "NotFoundError",
    "add_tasks",
    "authenticate",
    "cached_token_user",
    "check_value",
    "create_api_token",
    "create_project",
    "create_session",
    "create_user",
    "delete_session",
    "get_project",
    "has_admin",
    "has_users",
    "import_tasks",
    "iter_task_rows",
    "list_projects",
    "next_task",
    "resolve",
    "session_user",
    "skip",
    "submit",
    "task_view",
    "token_user",
]

DEFAULT_CRITERIA = ["helpfulness", "harmlessness", "honesty"]
SESSION_DAYS = 7
#: argon2 parameters (argon2-cffi defaults: RFC 9106 low-memory profile); tests may lower them for speed
ARGON2_PARAMS: dict[str, Any] = {}
_hasher: Any = None


# ---------------------------------------------------------------- users, sessions, tokens
def _ph() -> Any:
    global _hasher
    if _hasher is None:
        from argon2 import PasswordHasher

        _hasher = PasswordHasher(**ARGON2_PARAMS)
    return _hasher


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
        return s.scalar(select(User.id).where(User.role == "admin", User.active.is_(True)).limit(1)) is not None


def create_user(db: Database, username: str, password: str, *, role: str = "annotator",
                first_admin: bool = False) -> dict[str, Any]:
    """Create a user (argon2-hashed password). ``first_admin`` succeeds only while no active admin exists
    (a seeded demo database holds simulated annotators but no admin)."""
    from sqlalchemy import func, select, text
    from sqlalchemy.exc import IntegrityError

    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
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
        s.add(Session(token_hash=_sha(token), user_id=user_id, csrf=csrf,
                      expires_at=utcnow() + timedelta(days=SESSION_DAYS)))
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


TOKEN_CACHE_SECONDS = 10.0


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
        user = s.scalar(select(User).join(ApiToken, ApiToken.user_id == User.id)
                        .where(ApiToken.token_hash == digest))
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
        return [{"id": u.id, "username": u.username, "role": u.role, "active": u.active}
                for u in s.scalars(select(User).order_by(User.id))]


# ---------------------------------------------------------------- projects
def project_dict(p: Project) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "task_type": p.task_type, "guidelines": p.guidelines,
            "overlap": p.overlap, "gold_rate": p.gold_rate, "criteria": list(p.criteria or []), "scale": p.scale}


def create_project(db: Database, name: str, *, task_type: str = "pairwise", guidelines: str = "",
                   overlap: int = 1, gold_rate: float = 0.0, criteria: list[str] | None = None,
                   scale: int = 5) -> dict[str, Any]:
    """Create a project.

    Args:
        name: unique project name.
        task_type: pairwise, ranking, rubric, rewrite or comment.
        guidelines: Markdown shown to annotators.
        overlap: how many annotators judge each (non-gold) task.
        gold_rate: share of an annotator's tasks drawn from gold tasks (0..1).
        criteria: rubric criteria (Likert items), default helpfulness/harmlessness/honesty.
        scale: points of the Likert scale (2..10).
    """
    from sqlalchemy.exc import IntegrityError

    name = name.strip()
    if not name or len(name) > 128:
        raise ConfigError("project name must have 1-128 characters")
    if task_type not in TASK_TYPES:
        raise ConfigError(f"unknown task type {task_type!r}; allowed: {', '.join(TASK_TYPES)}")
    if not 1 <= overlap <= 100:
        raise ConfigError(f"overlap must be 1..100, got {overlap!r}", params="overlap")
    if not 0.0 <= gold_rate <= 1.0:
        raise ConfigError(f"gold_rate must be between 0 and 1, got {gold_rate!r}", params="gold_rate")
    if not 2 <= scale <= 10:
        raise ConfigError(f"scale must be 2..10, got {scale!r}", params="scale")
    crit = [c.strip() for c in (criteria or DEFAULT_CRITERIA) if c.strip()]
    if task_type == "rubric" and not crit:
        raise ConfigError("a rubric project needs at least one criterion")
    try:
        with db.write() as s:
            p = Project(name=name, task_type=task_type, guidelines=guidelines, overlap=overlap,
                        gold_rate=gold_rate, criteria=crit if task_type == "rubric" else [], scale=scale)
            s.add(p)
            s.flush()
            return project_dict(p)
    except IntegrityError:
        raise ConflictError(f"project {name!r} already exists") from None


def get_project(db: Database, ref: int | str) -> dict[str, Any]:
    """A project by id or name (projects never change after creation, so they are cached per Database)."""
    from sqlalchemy import select

    key = ref if isinstance(ref, int) else str(ref)
    hit = db.cache.get(("project", key))
    if hit is not None:
        return dict(hit)
    with db.read() as s:
        p = None
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            p = s.get(Project, int(ref))
        if p is None:
            p = s.scalar(select(Project).where(Project.name == str(ref)))
    if p is None:
        raise NotFoundError(f"no project {ref!r}")
    out = project_dict(p)
    if len(db.cache) < 10_000:
        db.cache[("project", key)] = out
    return dict(out)


def list_projects(db: Database) -> list[dict[str, Any]]:
    from sqlalchemy import select

    with db.read() as s:
        return [project_dict(p) for p in s.scalars(select(Project).order_by(Project.id))]


# ---------------------------------------------------------------- values
def _int(v: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise InputError(f"{what} must be an integer {lo}..{hi}, got {v!r}")
    return v


def check_value(project: dict[str, Any], n_responses: int, value: Any) -> dict[str, Any]:
    """Validate a judgement value of the project's task type; returns it normalised (canonical indices)."""
    if not isinstance(value, dict):
        raise InputError(f"judgement value must be an object, got {type(value).__name__}")
    tt = project["task_type"]
    n = n_responses
    if tt == "pairwise":
        pref = value.get("preferred")
        if pref is not None:
            _int(pref, "preferred", 0, n - 1)
        out: dict[str, Any] = {"preferred": pref}
        if value.get("strength") is not None:
            out["strength"] = _int(value["strength"], "strength", 1, 3)
        reason = value.get("reason") or ""
        if not isinstance(reason, str):
            raise InputError("reason must be a string")
        out["reason"] = reason[:5000]
        return out
    if tt == "ranking":
        ranking = value.get("ranking")
        if not isinstance(ranking, list) or sorted(ranking) != list(range(n)) or any(
                isinstance(r, bool) for r in ranking):
            raise InputError(f"ranking must list each response index 0..{n - 1} once, best first; got {ranking!r}")
        return {"ranking": ranking}
    if tt == "rubric":
        scores = value.get("scores")
        crit = project["criteria"]
        if not isinstance(scores, list) or len(scores) != n:
            raise InputError(f"scores must be a list with one object per response ({n}), got {scores!r}")
        clean = []
        for i, sc in enumerate(scores):
            if not isinstance(sc, dict) or set(sc) != set(crit):
                raise InputError(f"scores[{i}] must rate exactly the criteria {crit}")
            clean.append({c: _int(sc[c], f"scores[{i}].{c}", 1, project["scale"]) for c in crit})
        return {"scores": clean}
    if tt == "rewrite":
        src = _int(value.get("source", 0), "source", 0, max(n - 1, 0))
        text = value.get("rewrite")
        if not isinstance(text, str) or not text.strip():
            raise InputError("rewrite must be a non-empty string")
        return {"source": src, "rewrite": text[:100_000]}
    text = value.get("comment")
    if not isinstance(text, str) or not text.strip():
        raise InputError("comment must be a non-empty string")
    return {"comment": text[:100_000]}


def from_display(project: dict[str, Any], value: Any, order: list[int]) -> Any:
    """Map a value given in displayed positions to canonical response indices."""
    if not isinstance(value, dict):
        return value
    v = dict(value)

    def canon(p: Any) -> Any:
        return order[p] if isinstance(p, int) and not isinstance(p, bool) and 0 <= p < len(order) else p

    tt = project["task_type"]
    if tt == "pairwise" and v.get("preferred") is not None:
        v["preferred"] = canon(v["preferred"])
    elif tt == "ranking" and isinstance(v.get("ranking"), list):
        v["ranking"] = [canon(p) for p in v["ranking"]]
    elif tt == "rubric" and isinstance(v.get("scores"), list) and len(v["scores"]) == len(order):
        out: list[Any] = [None] * len(order)
        for pos, sc in enumerate(v["scores"]):
            out[order[pos]] = sc
        v["scores"] = out
    elif tt == "rewrite" and "source" in v:
        v["source"] = canon(v["source"])
    return v


def gold_correct(project: dict[str, Any], gold: dict[str, Any] | None, value: dict[str, Any]) -> bool | None:
    """Whether a judgement matches the gold answer (None when the task type has no gold check)."""
    if not gold:
        return None
    tt = project["task_type"]
    if tt == "pairwise":
        return value.get("preferred") == gold.get("preferred")
    if tt == "ranking":
        return value["ranking"][:1] == gold["ranking"][:1]
    if tt == "rubric":
        diffs = [abs(a[c] - b[c]) for a, b in zip(value["scores"], gold["scores"], strict=True) for c in a]
        return sum(diffs) / max(len(diffs), 1) <= 1.0
    return None


# ---------------------------------------------------------------- task import
def _text(v: Any, what: str) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("content"), str):
        return v["content"]
    if isinstance(v, list) and v and all(isinstance(m, dict) for m in v):  # a chat answer: last message
        return _text(v[-1], what)
    raise ValueError(f"{what} must be a string, got {type(v).__name__}")


def _messages(v: Any) -> list[dict[str, str]]:
    out = []
    for i, m in enumerate(v):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ValueError(f"messages[{i}] must be an object with 'role' and 'content'")
        content = m.get("content")
        if not isinstance(content, str):
            content = "" if content is None else str(content)
        out.append({"role": m["role"][:32], "content": content})
    return out


_MIN_RESPONSES = {"pairwise": 2, "ranking": 2, "rubric": 1, "rewrite": 1, "comment": 0}


def parse_task_row(project: dict[str, Any], row: Any) -> dict[str, Any]:
    """One task from an imported row; ValueError says what is wrong.

    Accepted: ``{"prompt", "responses": [...]}``, a preference ``{"prompt", "chosen", "rejected"}``, chat context
    as ``messages`` (or a message-list ``prompt``), optional ``id``, ``metadata`` and ``gold`` (a judgement value).
    """
    from datamill.records import stable_id

    if not isinstance(row, dict):
        raise ValueError(f"a task must be a JSON object, got {type(row).__name__}")
    prompt = row.get("prompt", row.get("instruction", ""))
    messages: list[dict[str, str]] = []
    if isinstance(prompt, list):
        messages, prompt = _messages(prompt), ""
    elif prompt is None:
        prompt = ""
    elif not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string or a list of messages, got {type(prompt).__name__}")
    ctx = row.get("messages", row.get("context"))
    if isinstance(ctx, list):
        messages = _messages(ctx) + messages
    if "responses" in row:
        resp = row["responses"]
        if not isinstance(resp, list):
            raise ValueError("responses must be a list")
        responses = [_text(r, f"responses[{i}]") for i, r in enumerate(resp)]
    elif "chosen" in row and "rejected" in row:
        responses = [_text(row["chosen"], "chosen"), _text(row["rejected"], "rejected")]
    elif "response" in row or "output" in row:
        responses = [_text(row.get("response", row.get("output")), "response")]
    else:
        responses = []
    if messages and messages[-1]["role"] == "assistant":
        # a chat transcript (OpenAI fine-tuning rows, `synthetic respond` output) ends with the answer
        # under review: it is the response, not context, so it is never shown twice
        last = messages[-1]["content"]
        if not responses:
            responses, messages = [last], messages[:-1]
        elif last in responses:
            messages = messages[:-1]
    if not prompt and not messages:
        raise ValueError("a task needs a 'prompt' (or 'messages')")
    tt = project["task_type"]
    need = _MIN_RESPONSES[tt]
    if len(responses) < need or (tt == "pairwise" and len(responses) != 2):
        raise ValueError(f"a {tt} task needs {'exactly 2' if tt == 'pairwise' else f'at least {need}'} "
                         f"responses, got {len(responses)}")
    meta = row.get("metadata") or {}
    if not isinstance(meta, dict):
        raise ValueError("metadata must be an object")
    gold = row.get("gold")
    if gold is not None:
        try:
            gold = check_value(project, len(responses), gold)
        except InputError as exc:
            raise ValueError(f"bad gold answer: {exc}") from None
    ext = row.get("id") or stable_id(prompt, messages, responses)
    if not isinstance(ext, (str, int)):
        raise ValueError("id must be a string")
    return {"external_id": str(ext)[:255], "prompt": prompt, "messages": messages, "responses": responses,
            "meta": meta, "gold": gold, "is_gold": gold is not None}


def iter_task_rows(source: Any, *, split: str | None = None) -> Iterator[tuple[int, Any]]:
    """``(line_or_row_number, row)`` from a JSONL(.gz/.zst) file, a Parquet file or an HF dataset (folder/object)."""
    if not isinstance(source, (str, os.PathLike)):
        from datamill.io import iter_hf

        yield from iter_hf(source, split=split)
        return
    path = Path(source)
    if path.is_dir():
        from datamill.io import iter_hf

        yield from iter_hf(path, split=split)
    elif not path.exists():
        raise InputError("no such file", path=str(path))
    elif path.name.endswith(".parquet"):
        from datamill.io import iter_parquet

        yield from iter_parquet(path)
    else:
        from datamill.io import iter_jsonl

        for line, _off, value in iter_jsonl(path):
            yield line, value


def add_tasks(db: Database, project: int | str, rows: Iterable[tuple[int, Any]], *, source: str = "<request>",
              what: str = "line") -> int:
    """Validate every row, then insert all tasks in one transaction (an error imports nothing).

    Raises InputError naming ``source:line`` for a malformed row or a duplicate task id.
    """
    from sqlalchemy import insert, select

    proj = get_project(db, project)
    parsed: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    it = iter(rows)
    while True:
        try:
            line, row = next(it)
        except StopIteration:
            break
        except InputError as exc:  # unreadable line/row: same all-or-nothing message
            raise InputError(f"{exc.reason}; nothing imported", path=exc.path or source, line=exc.line) from None
        try:
            task = parse_task_row(proj, row)
        except ValueError as exc:
            where = f"{what} {line}: " if source == "<request>" or what != "line" else ""
            raise InputError(f"{where}{exc}; nothing imported", path=source, line=line) from None
        if task["external_id"] in seen:
            raise InputError(f"{what} {line}: duplicate task id {task['external_id']!r} (first at {what} "
                             f"{seen[task['external_id']]}); nothing imported", path=source, line=line)
        seen[task["external_id"]] = line
        task["project_id"] = proj["id"]
        task["n_assigned"] = 0
        task["created_at"] = utcnow()
        parsed.append(task)
    if not parsed:
        raise InputError("no tasks found; nothing imported", path=source)
    with db.write() as s:
        existing: set[str] = set()
        ids = list(seen)
        for lo in range(0, len(ids), 500):
            existing.update(s.scalars(select(Task.external_id).where(
                Task.project_id == proj["id"], Task.external_id.in_(ids[lo:lo + 500]))))
        if existing:
            first = min(existing, key=lambda e: seen[e])
            raise InputError(f"{what} {seen[first]}: task id {first!r} is already in project {proj['name']!r}"
                             f" ({len(existing)} duplicate(s)); nothing imported", path=source, line=seen[first])
        for lo in range(0, len(parsed), 1000):
            s.execute(insert(Task), parsed[lo:lo + 1000])
    if not db.is_sqlite:
        # fresh statistics for the queue query: before autovacuum's first ANALYZE, PostgreSQL guesses one
        # task and checks "not mine" against the annotator's whole history for each (measured 5.4 ms vs
        # 0.3 ms per next-task after 300 judgements)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE tasks")
            conn.commit()
    return len(parsed)


def _task_rows(db: Database, project: int | str, source: Any, *, split: str | None) -> Iterator[tuple[int, Any]]:
    """The source's task rows; a public dataset's shape (HH-RLHF, UltraFeedback, SHP, HelpSteer2, Nectar,
    oasst1, Dolly …, told by its first row) is read as fine-tuning records and turned into tasks."""
    from datamill.feedback.sources import is_native_task_row, task_rows_from_records

    rows = iter_task_rows(source, split=split)
    first = next(rows, None)
    if first is None:
        return
    if is_native_task_row(first[1]):
        yield first
        yield from rows
        return
    from datamill.finetune.formats import read_examples

    task_type = get_project(db, project)["task_type"]
    yield from task_rows_from_records(read_examples(source, split=split, keep_ties=True), task_type)


def import_tasks(db: Database, project: int | str, source: Any, *, split: str | None = None,
                 teachers: Any = None, samples: int | None = None, cache: str | None = "default") -> int:
    """Import tasks from a JSONL/Parquet file or HF dataset into a project, all or nothing; returns the count.

    Rows are task rows (see :func:`parse_task_row`) or a public dataset's published shape (preference sets
    become pairwise or ranking tasks with the prompt as context and the final turns as responses; see
    :mod:`datamill.feedback.sources`).

    Args:
        split: the split of an HF DatasetDict.
        teachers: teacher model(s) (see :func:`datamill.feedback.fill.fill_responses`) that answer rows
            having a prompt but no responses, before anything is written.
        samples: answers per teacher and row (default: what the task type needs).
        cache: the synthetic request cache for the teachers.
    """
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "<dataset>"
    is_file = isinstance(source, (str, os.PathLike)) and not Path(source).is_dir()
    what = "line" if is_file and not name.endswith(".parquet") else "row"
    rows: Iterable[tuple[int, Any]] = _task_rows(db, project, source, split=split)
    if teachers is not None:
        from datamill.feedback.fill import fill_responses

        rows = fill_responses(rows, teachers, task_type=get_project(db, project)["task_type"], samples=samples,
                              cache=cache)
    return add_tasks(db, project, rows, source=name, what=what)


# ---------------------------------------------------------------- queue
def _permutation(task_id: int, user_id: int, n: int) -> list[int]:
    order = list(range(n))
    random.Random(f"order:{task_id}:{user_id}").shuffle(order)
    return order


def task_view(project: dict[str, Any], task: Any, a: Any) -> dict[str, Any]:
    """A task as an annotator sees it: responses in their permuted order, with the permutation.

    ``task`` and ``a`` are a Task and an Assignment (or None), or rows with the same column names.
    """
    order = list(a.order) if a is not None else list(range(len(task.responses)))
    return {"task_id": task.id, "project_id": task.project_id, "external_id": task.external_id,
            "task_type": project["task_type"], "prompt": task.prompt, "messages": task.messages,
            "responses": [task.responses[i] for i in order], "order": order,
            "criteria": project["criteria"], "scale": project["scale"],
            "assignment_id": a.id if a is not None else None,
            "started_at": a.started_at.isoformat() if a is not None else None}


@functools.cache
def _sql() -> Any:
    """The annotator hot path's statements, built once with bind parameters (no per-request construction)."""
    from sqlalchemy import Table, and_, bindparam, exists, func, insert, select, update

    at, tt, jt = (cast(Table, m.__table__) for m in (Assignment, Task, Judgement))
    A, T = at.c, tt.c
    view = (T.id, T.project_id, T.external_id, T.prompt, T.messages, T.responses)
    # "not already mine" as NOT EXISTS on the unique (task, user) index: a probe per candidate task, where
    # NOT IN (all my task ids) read the annotator's whole history on every next-task
    not_mine = ~exists().where(A.task_id == T.id, A.user_id == bindparam("uid"))
    free = select(T.id, T.n_assigned).where(
        T.project_id == bindparam("pid"), T.is_gold.is_(False), T.n_assigned < bindparam("overlap"),
        not_mine).order_by(T.n_assigned.desc(), T.id.desc())
    claim = update(tt).where(T.id == bindparam("tid"), T.n_assigned < bindparam("overlap")).values(
        n_assigned=T.n_assigned + 1)
    return SimpleNamespace(
        open=select(A.id, A.task_id, A.order, A.started_at)
        .where(A.user_id == bindparam("uid"), A.project_id == bindparam("pid"), A.status == "open")
        .order_by(A.id).limit(1),
        n_mine=select(func.count()).where(A.user_id == bindparam("uid"), A.project_id == bindparam("pid")),
        task=select(*view).where(T.id == bindparam("tid")),
        golds=select(T.id).where(T.project_id == bindparam("pid"), T.is_gold.is_(True), not_mine).limit(50),
        # PostgreSQL: lock a few free rows, skipping those other annotators hold
        free_locked=free.limit(8).with_for_update(skip_locked=True, of=tt),
        free=free.limit(64),
        claim=claim,
        # SQLite >= 3.35 and PostgreSQL: one statement claims the task and reads it
        claim_returning=claim.returning(*view),
        add_assignment=insert(at),
        task_and_assignment=select(T.project_id, T.responses, T.is_gold, T.gold, A.id.label("aid"), A.status,
                                   A.order, A.started_at)
        .select_from(tt.outerjoin(at, and_(A.task_id == T.id, A.user_id == bindparam("uid"))))
        .where(T.id == bindparam("tid")),
        add_judgement=insert(jt),
        finish=update(at).where(A.id == bindparam("aid"))
        .values(status="done", finished_at=bindparam("now")),
    )


def next_task(db: Database, user_id: int, project: int | str) -> dict[str, Any] | None:
    """The annotator's current task, or a newly assigned one; None when their queue is empty.

    A task goes to at most ``overlap`` annotators (an atomic conditional UPDATE on ``n_assigned``),
    never twice to one annotator (unique (task, user)); gold tasks come at ``gold_rate``.
    """
    # Hot path: prebuilt Core statements on the session's connection (no ORM identity map or unit of
    # work); four statements for a new assignment: open one?, candidates, claim (UPDATE .. RETURNING), insert.
    from sqlalchemy.exc import IntegrityError

    proj = get_project(db, project)
    pid, overlap = proj["id"], proj["overlap"]
    sql = _sql()
    for _attempt in range(5):
        try:
            with db.write(durable=False) as s:  # an assignment lost in a power cut is only handed out again
                conn = s.connection()
                a = conn.execute(sql.open, {"uid": user_id, "pid": pid}).first()
                if a is not None:
                    return task_view(proj, conn.execute(sql.task, {"tid": a.task_id}).one(), a)
                # the gold draw is seeded by how many tasks this annotator has had (only counted when needed)
                n_mine = conn.execute(sql.n_mine, {"uid": user_id, "pid": pid}).scalar() if proj["gold_rate"] else 0
                rng = random.Random(f"gold:{user_id}:{pid}:{n_mine}")
                want_gold = proj["gold_rate"] > 0 and rng.random() < proj["gold_rate"]
                task = None
                if want_gold:
                    golds = list(conn.scalars(sql.golds, {"uid": user_id, "pid": pid}))
                    if golds:
                        task = conn.execute(sql.task, {"tid": rng.choice(golds)}).one()
                tried: set[int] = set()
                locking = not db.is_sqlite
                returning = conn.dialect.update_returning
                while task is None:
                    # tasks closest to their overlap first; ties shuffled per annotator so concurrent
                    # annotators spread over different rows instead of queueing on one. SQLite has one
                    # writer at a time anyway; PostgreSQL falls back to waiting when every free row is locked
                    q = sql.free_locked if locking else sql.free
                    cands = [c for c in conn.execute(q, {"uid": user_id, "pid": pid, "overlap": overlap}).all()
                             if c[0] not in tried]
                    if not cands:
                        if locking:  # all locked by others: wait on them rather than report an empty queue
                            locking = False
                            continue
                        return None
                    rng.shuffle(cands)
                    cands.sort(key=lambda c: -c[1])
                    for cid, _n in cands:
                        tried.add(cid)
                        if returning:
                            task = conn.execute(sql.claim_returning, {"tid": cid, "overlap": overlap}).first()
                        elif conn.execute(sql.claim, {"tid": cid, "overlap": overlap}).rowcount:
                            task = conn.execute(sql.task, {"tid": cid}).one()
                        if task is not None:
                            break
                order = _permutation(task.id, user_id, len(task.responses))
                now = utcnow()
                aid = conn.execute(sql.add_assignment, {"task_id": task.id, "user_id": user_id, "project_id": pid,
                                                        "status": "open", "order": order, "started_at": now}
                                   ).inserted_primary_key[0]
                return task_view(proj, task, SimpleNamespace(id=aid, order=order, started_at=now))
        except IntegrityError:  # a concurrent request of the same user took this task first: try again
            continue
    raise ConflictError("could not assign a task under contention; retry")


def _owned_assignment(s: Any, user_id: int, task_id: int) -> tuple[Task, Assignment | None]:
    from sqlalchemy import select

    task = s.get(Task, task_id)
    if task is None:
        raise NotFoundError(f"no task {task_id}")
    a = s.scalar(select(Assignment).where(Assignment.task_id == task_id, Assignment.user_id == user_id))
    return task, a


def get_task_for(db: Database, user: User, task_id: int) -> dict[str, Any]:
    """A task as ``user`` may see it: annotators only tasks assigned to them (else 403)."""
    with db.read() as s:
        task, a = _owned_assignment(s, user.id, task_id)
        if a is None and user.role == "annotator":
            raise ForbiddenError("this task is not in your queue")
        proj = get_project(db, task.project_id)
        return task_view(proj, task, a)


def judgement_dict(j: Judgement, username: str | None = None) -> dict[str, Any]:
    return {"id": j.id, "task_id": j.task_id, "project_id": j.project_id, "user_id": j.user_id,
            "annotator": username, "client_key": j.client_key, "value": j.value, "comment": j.comment,
            "order": j.order, "seconds": round(j.seconds, 3), "gold_correct": j.gold_correct,
            "created_at": j.created_at.isoformat()}


def submit(db: Database, user_id: int, task_id: int, *, client_key: str, value: Any, comment: str = "",
           displayed: bool = False) -> tuple[dict[str, Any], bool]:
    """Record a judgement; returns ``(judgement, created)``.

    Idempotent by ``client_key`` (unique per user): resending the same key returns the stored judgement
    with ``created=False``. ``displayed=True`` means response indices are positions as shown.
    """
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    if not isinstance(client_key, str) or not 8 <= len(client_key) <= 64:
        raise InputError("client_key must be a string of 8-64 characters (e.g. a UUID)")
    if not isinstance(comment, str):
        raise InputError("comment must be a string")

    def existing(s: Any) -> tuple[dict[str, Any], bool] | None:
        j = s.scalar(select(Judgement).where(Judgement.user_id == user_id, Judgement.client_key == client_key))
        if j is None:
            return None
        if j.task_id != task_id:
            raise ConflictError(f"client_key {client_key!r} was already used for task {j.task_id}")
        return judgement_dict(j), False

    sql = _sql()
    try:
        with db.write() as s:
            conn = s.connection()
            # one statement for the task and this user's assignment of it
            row = conn.execute(sql.task_and_assignment, {"uid": user_id, "tid": task_id}).first()
            if row is None or row.status != "open":
                # a retry of an acknowledged (or at least committed) submit returns the stored judgement;
                # only looked up off the hot path: an open assignment has no judgement yet
                found = existing(s)
                if found is not None:
                    return found
            if row is None:
                raise NotFoundError(f"no task {task_id}")
            if row.aid is None:
                raise ForbiddenError("this task is not in your queue")
            if row.status == "done":
                raise ConflictError("you already judged this task (with another client_key)")
            if row.status == "skipped":
                raise ConflictError("you skipped this task")
            proj = get_project(db, row.project_id)
            order = list(row.order)
            if displayed:
                value = from_display(proj, value, order)
            value = check_value(proj, len(row.responses), value)
            now = utcnow()
            j = {"task_id": task_id, "user_id": user_id, "project_id": row.project_id, "client_key": client_key,
                 "value": value, "comment": comment[:10_000], "order": order,
                 "seconds": max((now - row.started_at).total_seconds(), 0.0),
                 "gold_correct": gold_correct(proj, row.gold, value) if row.is_gold else None, "created_at": now}
            jid = conn.execute(sql.add_judgement, j).inserted_primary_key[0]
            conn.execute(sql.finish, {"aid": row.aid, "now": now})
            return judgement_dict(SimpleNamespace(id=jid, **j)), True  # type: ignore[arg-type]
    except IntegrityError:  # the same key raced in from a retry: the first one won
        with db.read() as s:
            found = existing(s)
        if found:
            return found
        raise ConflictError("you already judged this task") from None


def skip(db: Database, user_id: int, task_id: int, *, reason: str) -> None:
    """Skip an assigned task with a reason; it goes back to the pool for others."""
    from sqlalchemy import update

    reason = (reason or "").strip()
    if not reason:
        raise InputError("a skip needs a reason")
    with db.write() as s:
        task, a = _owned_assignment(s, user_id, task_id)
        if a is None:
            raise ForbiddenError("this task is not in your queue")
        if a.status != "open":
            raise ConflictError(f"task is already {a.status}")
        a.status = "skipped"
        a.skip_reason = reason[:2000]
        a.finished_at = utcnow()
        if not task.is_gold:
            s.execute(update(Task).where(Task.id == task_id).values(n_assigned=Task.n_assigned - 1))


def list_judgements(db: Database, project: int | str, *, user_id: int | None = None) -> list[dict[str, Any]]:
    from sqlalchemy import select

    pid = get_project(db, project)["id"]
    with db.read() as s:
        q = select(Judgement, User.username).join(User, User.id == Judgement.user_id).where(
            Judgement.project_id == pid)
        if user_id is not None:
            q = q.where(Judgement.user_id == user_id)
        return [judgement_dict(j, name) for j, name in s.execute(q.order_by(Judgement.id))]


def get_judgement_for(db: Database, user: User, judgement_id: int) -> dict[str, Any]:
    with db.read() as s:
        j = s.get(Judgement, judgement_id)
        if j is None:
            raise NotFoundError(f"no judgement {judgement_id}")
        if user.role == "annotator" and j.user_id != user.id:
            raise ForbiddenError("you can only see your own judgements")
        return judgement_dict(j)


def resolve(db: Database, user_id: int, task_id: int, *, value: Any, note: str = "") -> dict[str, Any]:
    """Set (or replace) the final answer of a task; export uses it instead of the aggregated votes."""
    from sqlalchemy import select

    with db.write() as s:
        task = s.get(Task, task_id)
        if task is None:
            raise NotFoundError(f"no task {task_id}")
        proj = get_project(db, task.project_id)
        value = check_value(proj, len(task.responses), value)
        r = s.scalar(select(Resolution).where(Resolution.task_id == task_id))
        if r is None:
            r = Resolution(task_id=task_id, user_id=user_id, value=value, note=note[:5000])
            s.add(r)
        else:
            r.value, r.note, r.user_id, r.created_at = value, note[:5000], user_id, utcnow()
        s.flush()
        return {"task_id": task_id, "value": value, "note": r.note}

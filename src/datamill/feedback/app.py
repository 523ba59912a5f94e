"""The FastAPI app: server-rendered pages (Jinja, a little plain JS) and the JSON API under ``/api``.

Auth: browser sessions (HttpOnly, SameSite=Lax cookie; Secure over https) with a per-session CSRF
token required on every state-changing request, or ``Authorization: Bearer <API token>`` for the client.
Roles: admin > reviewer > annotator, checked server-side on every route.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from datamill.errors import (
    ConfigError,
    DatamillError,
    ForbiddenError,
    InputError,
    NeedLogin,
    StorageError,
    UnauthorizedError,
)
from datamill.feedback import service as svc
from datamill.feedback.db import Database
from datamill.feedback.models import User

__all__ = ["create_app"]

HERE = Path(__file__).parent
SESSION_COOKIE = "dm_session"
PRE_CSRF_COOKIE = "dm_precsrf"
RANK = {"annotator": 0, "reviewer": 1, "admin": 2}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


# ---------------------------------------------------------------- request bodies
class LoginIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    token_name: str = Field(default="client", max_length=64)


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=1024)
    role: Literal["admin", "reviewer", "annotator"] = "annotator"


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    task_type: Literal["pairwise", "ranking", "rubric", "rewrite", "comment"] = "pairwise"
    guidelines: str = Field(default="", max_length=200_000)
    overlap: int = Field(default=1, ge=1, le=100)
    gold_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    criteria: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=20)
    scale: int = Field(default=5, ge=2, le=10)


class TasksIn(BaseModel):
    tasks: list[dict[str, Any]] = Field(max_length=10_000)


class SubmitIn(BaseModel):
    client_key: str = Field(min_length=8, max_length=64, description="A client-made unique key (UUID): "
                            "resending it returns the stored judgement instead of a duplicate.")
    value: dict[str, Any]
    comment: str = Field(default="", max_length=10_000)
    displayed: bool = Field(default=False, description="Response indices are positions as displayed.")


class SkipIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class ResolveIn(BaseModel):
    value: dict[str, Any]
    note: str = Field(default="", max_length=5000)


# ---------------------------------------------------------------- app
def create_app(db: Database | str | None = None, *, secure_cookies: bool | None = None) -> FastAPI:
    """The feedback web app on ``db`` (a Database or URL; default ``$DATABASE_URL`` or a SQLite file).

    Args:
        db: the database (migrated on open).
        secure_cookies: force the cookie ``Secure`` flag; by default it is set when the request is https.
    """
    from datamill.feedback.render import render_markdown

    database = db if isinstance(db, Database) else Database(db)
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not database.is_sqlite:  # no request waits for, or churns, a connection outside the pool
            import anyio.to_thread

            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = min(limiter.total_tokens, Database.POOL_SIZE)
        yield

    app = FastAPI(title="datamill feedback", version="1", docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Human feedback (RLHF) annotation: projects, task queues, judgements, agreement, "
                              "export. Authenticate with `Authorization: Bearer <token>` (POST /api/login).")
    app.state.db = database
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["md"] = render_markdown
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    # ---------------- auth helpers
    def auth(request: Request) -> tuple[User, str | None] | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            user = svc.token_user(database, header[7:].strip())
            return (user, None) if user is not None else None
        found = svc.session_user(database, request.cookies.get(SESSION_COOKIE))
        return found

    async def api_user(request: Request) -> User:
        # async, so a request whose API token was seen in the last seconds costs no thread hop and no query;
        # anything else (new token, session cookie) looks the database up in the thread pool
        header = request.headers.get("authorization", "")
        user = svc.cached_token_user(database, header[7:].strip()) if header.lower().startswith("bearer ") else None
        found = (user, None) if user is not None else await run_in_threadpool(auth, request)
        if found is None:
            raise UnauthorizedError("authentication required: log in or send Authorization: Bearer <token>")
        user, csrf = found
        if csrf is not None and request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = request.headers.get("x-csrf-token", "")
            if not secrets.compare_digest(sent, csrf):
                raise ForbiddenError("missing or wrong X-CSRF-Token header")
        return user

    def page_user(request: Request) -> tuple[User, str]:
        found = auth(request)
        if found is None or found[1] is None:
            raise NeedLogin()
        return found  # type: ignore[return-value]

    def need(user: User, role: str) -> None:
        if RANK.get(user.role, -1) < RANK[role]:
            raise svc.ForbiddenError(f"this needs the {role} role (you are {user.role})")

    def check_form_csrf(csrf: str, sent: str | None) -> None:
        if not sent or not secrets.compare_digest(sent, csrf):
            raise svc.ForbiddenError("missing or wrong CSRF token; reload the page and try again")

    def secure(request: Request) -> bool:
        return request.url.scheme == "https" if secure_cookies is None else secure_cookies

    def page(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
        return templates.TemplateResponse(request, name, ctx, status_code=status)

    # ---------------- errors and headers
    @app.exception_handler(DatamillError)
    async def _dm_error(request: Request, exc: DatamillError) -> Response:
        if isinstance(exc, NeedLogin):
            target = "/login" if svc.has_admin(database) else "/setup"
            return RedirectResponse(target, status_code=303)
        status = getattr(exc, "status", None) or (422 if isinstance(exc, (InputError, ConfigError)) else
                                                  503 if isinstance(exc, StorageError) else 400)
        if request.url.path.startswith("/api") or "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"error": str(exc), "status": status}, status_code=status)
        found = auth(request)
        return page(request, "error.html", {"user": found[0] if found else None, "csrf": None,
                                            "message": str(exc), "status": status}, status)

    app.add_middleware(_SecurityHeaders)

    def login_response(request: Request, user_id: int, target: str) -> Response:
        token, _csrf = svc.create_session(database, user_id)
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure(request),
                        max_age=svc.SESSION_DAYS * 86400, path="/")
        resp.delete_cookie(PRE_CSRF_COOKIE, path="/")
        return resp

    def pre_csrf_page(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> Response:
        token = request.cookies.get(PRE_CSRF_COOKIE) or secrets.token_urlsafe(32)
        resp = page(request, name, {**ctx, "csrf": token, "user": None}, status)
        resp.set_cookie(PRE_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure(request), path="/")
        return resp

    def check_pre_csrf(request: Request, sent: str) -> None:
        cookie = request.cookies.get(PRE_CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie, sent or ""):
            raise svc.ForbiddenError("missing or wrong CSRF token; reload the page and try again")

    # ---------------- first run, login, logout
    @app.get("/setup", include_in_schema=False)
    def setup_page(request: Request) -> Response:
        if svc.has_admin(database):
            return RedirectResponse("/login", status_code=303)
        return pre_csrf_page(request, "setup.html", {"error": None, "has_users": svc.has_users(database)})

    @app.post("/setup", include_in_schema=False)
    def setup_post(request: Request, username: str = Form(""), password: str = Form(""),
                   csrf_token: str = Form("")) -> Response:
        check_pre_csrf(request, csrf_token)
        try:
            user = svc.create_user(database, username, password, role="admin", first_admin=True)
        except (InputError, svc.ConflictError) as exc:
            return pre_csrf_page(request, "setup.html", {"error": str(exc), "has_users": svc.has_users(database)},
                                 422)
        return login_response(request, user["id"], "/")

    @app.get("/login", include_in_schema=False)
    def login_page(request: Request) -> Response:
        if not svc.has_users(database):
            return RedirectResponse("/setup", status_code=303)
        return pre_csrf_page(request, "login.html", {"error": None, "no_admin": not svc.has_admin(database)})

    @app.post("/login", include_in_schema=False)
    def login_post(request: Request, username: str = Form(""), password: str = Form(""),
                   csrf_token: str = Form("")) -> Response:
        check_pre_csrf(request, csrf_token)
        user = svc.authenticate(database, username, password)
        if user is None:
            return pre_csrf_page(request, "login.html", {"error": "wrong username or password",
                                                         "no_admin": not svc.has_admin(database)}, 401)
        return login_response(request, user.id, "/")

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf_token: str = Form(""),
               me: tuple[User, str] = Depends(page_user)) -> Response:
        check_form_csrf(me[1], csrf_token)
        svc.delete_session(database, request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    # ---------------- pages
    def progress(user: User) -> list[dict[str, Any]]:
        from sqlalchemy import func, select

        from datamill.feedback.models import Judgement, Task

        projects = svc.list_projects(database)
        with database.read() as s:
            mine = dict(s.execute(select(Judgement.project_id, func.count()).where(Judgement.user_id == user.id)
                                  .group_by(Judgement.project_id)).all())
            total = dict(s.execute(select(Task.project_id, func.count()).group_by(Task.project_id)).all())
        return [{**p, "mine": mine.get(p["id"], 0), "tasks": total.get(p["id"], 0)} for p in projects]

    @app.get("/", include_in_schema=False)
    def index(request: Request, me: tuple[User, str] = Depends(page_user)) -> Response:
        return page(request, "index.html", {"user": me[0], "csrf": me[1], "projects": progress(me[0])})

    @app.get("/projects/new", include_in_schema=False)
    def project_new(request: Request, me: tuple[User, str] = Depends(page_user)) -> Response:
        need(me[0], "admin")
        return page(request, "project_new.html", {"user": me[0], "csrf": me[1], "error": None})

    @app.post("/projects/new", include_in_schema=False)
    def project_new_post(request: Request, name: str = Form(""), task_type: str = Form("pairwise"),
                         guidelines: str = Form(""), overlap: int = Form(1), gold_rate: float = Form(0.0),
                         criteria: str = Form(""), scale: int = Form(5), csrf_token: str = Form(""),
                         me: tuple[User, str] = Depends(page_user)) -> Response:
        need(me[0], "admin")
        check_form_csrf(me[1], csrf_token)
        try:
            p = svc.create_project(database, name, task_type=task_type, guidelines=guidelines, overlap=overlap,
                                   gold_rate=gold_rate, scale=scale,
                                   criteria=[c for c in criteria.split(",") if c.strip()] or None)
        except (ConfigError, svc.ConflictError) as exc:
            return page(request, "project_new.html", {"user": me[0], "csrf": me[1], "error": str(exc)}, 422)
        return RedirectResponse(f"/projects/{p['id']}", status_code=303)

    @app.get("/projects/{project}", include_in_schema=False)
    def project_page(request: Request, project: str, me: tuple[User, str] = Depends(page_user)) -> Response:
        p = svc.get_project(database, project)
        if me[0].role == "annotator":
            return RedirectResponse(f"/projects/{p['id']}/annotate", status_code=303)
        from datamill.feedback.quality import agreement_report

        return page(request, "project.html", {"user": me[0], "csrf": me[1], "p": p,
                                              "report": agreement_report(database, p["id"]),
                                              "message": request.query_params.get("msg")})

    @app.post("/projects/{project}/import", include_in_schema=False)
    async def project_import(request: Request, project: str, file: UploadFile, csrf_token: str = Form(""),
                             me: tuple[User, str] = Depends(page_user)) -> Response:
        import tempfile

        need(me[0], "admin")
        check_form_csrf(me[1], csrf_token)
        p = svc.get_project(database, project)
        name = Path(file.filename or "upload.jsonl").name
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / name
            dest.write_bytes(await file.read())
            try:
                n = await run_in_threadpool(svc.add_tasks, database, p["id"], svc.iter_task_rows(dest),
                                            source=name, what="row" if name.endswith(".parquet") else "line")
            except InputError as exc:
                return RedirectResponse(f"/projects/{p['id']}?msg={_q(str(exc))}", status_code=303)
        return RedirectResponse(f"/projects/{p['id']}?msg={_q(f'imported {n} tasks')}", status_code=303)

    @app.get("/projects/{project}/annotate", include_in_schema=False)
    def annotate(request: Request, project: str, me: tuple[User, str] = Depends(page_user)) -> Response:
        p = svc.get_project(database, project)
        task = svc.next_task(database, me[0].id, p["id"])
        return page(request, "annotate.html", {"user": me[0], "csrf": me[1], "p": p, "task": task,
                                               "client_key": uuid.uuid4().hex,
                                               "letters": "ABCDEFGHIJ",
                                               "message": request.query_params.get("msg")})

    @app.post("/projects/{project}/tasks/{task_id}/submit", include_in_schema=False)
    async def annotate_submit(request: Request, project: str, task_id: int,
                              me: tuple[User, str] = Depends(page_user)) -> Response:
        form = await request.form()
        check_form_csrf(me[1], str(form.get("csrf_token", "")))
        p = svc.get_project(database, project)
        try:
            value = _form_value(p, form)
            await run_in_threadpool(lambda: svc.submit(
                database, me[0].id, task_id, client_key=str(form.get("client_key", "")), value=value,
                comment=str(form.get("comment", "")), displayed=True))
        except InputError as exc:
            return RedirectResponse(f"/projects/{p['id']}/annotate?msg={_q(str(exc))}", status_code=303)
        return RedirectResponse(f"/projects/{p['id']}/annotate", status_code=303)

    @app.post("/projects/{project}/tasks/{task_id}/skip", include_in_schema=False)
    def annotate_skip(project: str, task_id: int, reason: str = Form(""), csrf_token: str = Form(""),
                      me: tuple[User, str] = Depends(page_user)) -> Response:
        check_form_csrf(me[1], csrf_token)
        p = svc.get_project(database, project)
        try:
            svc.skip(database, me[0].id, task_id, reason=reason)
        except InputError as exc:
            return RedirectResponse(f"/projects/{p['id']}/annotate?msg={_q(str(exc))}", status_code=303)
        return RedirectResponse(f"/projects/{p['id']}/annotate", status_code=303)

    @app.get("/projects/{project}/stats", include_in_schema=False)
    def stats_page(request: Request, project: str, me: tuple[User, str] = Depends(page_user)) -> Response:
        from datamill.feedback.plots import svg_bars, svg_histogram
        from datamill.feedback.quality import agreement_report, load_project

        need(me[0], "reviewer")
        p = svc.get_project(database, project)
        data = load_project(database, p["id"])
        report = agreement_report(database, p["id"], data=data)
        ann = report["annotators"]
        charts = [
            svg_bars([(k, float(v)) for k, v in report["label_counts"].items()], title="Label distribution",
                     fmt="{:.0f}"),
            svg_bars([(a["annotator"], float(a["judgements"])) for a in ann], title="Judgements per annotator",
                     fmt="{:.0f}"),
            svg_bars([(a["annotator"], a["gold_accuracy"]) for a in ann if a["gold_judged"]],
                     title="Gold accuracy", vmax=1.0, fmt="{:.2f}"),
            svg_bars([(f"{q['a']}~{q['b']}", max(q["kappa"] or 0.0, 0.0)) for q in report["pairs"]],
                     title="Cohen's kappa per annotator pair", vmax=1.0, fmt="{:.2f}"),
            svg_histogram([j.seconds for j in data["judgements"]], title="Seconds per judgement"),
        ]
        return page(request, "stats.html", {"user": me[0], "csrf": me[1], "p": p, "report": report,
                                            "charts": charts})

    @app.get("/projects/{project}/disagreements", include_in_schema=False)
    def disagreements_page(request: Request, project: str, me: tuple[User, str] = Depends(page_user)) -> Response:
        from datamill.feedback.quality import disagreements

        need(me[0], "reviewer")
        p = svc.get_project(database, project)
        return page(request, "disagreements.html", {"user": me[0], "csrf": me[1], "p": p,
                                                    "items": disagreements(database, p["id"]),
                                                    "letters": "ABCDEFGHIJ"})

    @app.post("/projects/{project}/tasks/{task_id}/resolve", include_in_schema=False)
    async def resolve_post(request: Request, project: str, task_id: int,
                           me: tuple[User, str] = Depends(page_user)) -> Response:
        need(me[0], "admin")
        form = await request.form()
        check_form_csrf(me[1], str(form.get("csrf_token", "")))
        p = svc.get_project(database, project)
        value = _form_value(p, form)
        svc.resolve(database, me[0].id, task_id, value=value, note=str(form.get("note", "")))
        return RedirectResponse(f"/projects/{p['id']}/disagreements", status_code=303)

    @app.get("/projects/{project}/export", include_in_schema=False)
    def export_download(project: str, format: str = "dpo", policy: str = "majority", min_agreement: float = 0.0,
                        me: tuple[User, str] = Depends(page_user)) -> Response:
        import orjson

        from datamill.feedback.export import export_rows

        need(me[0], "admin")
        p = svc.get_project(database, project)
        rows = export_rows(database, p["id"], format, policy=policy, min_agreement=min_agreement)
        body = b"".join(orjson.dumps(r) + b"\n" for r in rows)
        fname = f"{_slug(p['name'])}-{format}.jsonl"
        return Response(body, media_type="application/x-ndjson",
                        headers={"Content-Disposition": f'attachment; filename="{fname}"'})

    @app.get("/users", include_in_schema=False)
    def users_page(request: Request, me: tuple[User, str] = Depends(page_user)) -> Response:
        need(me[0], "admin")
        return page(request, "users.html", {"user": me[0], "csrf": me[1], "users": svc.list_users(database),
                                            "error": request.query_params.get("msg")})

    @app.post("/users", include_in_schema=False)
    def users_post(username: str = Form(""), password: str = Form(""), role: str = Form("annotator"),
                   csrf_token: str = Form(""), me: tuple[User, str] = Depends(page_user)) -> Response:
        need(me[0], "admin")
        check_form_csrf(me[1], csrf_token)
        try:
            svc.create_user(database, username, password, role=role)
        except (InputError, ConfigError, svc.ConflictError) as exc:
            return RedirectResponse(f"/users?msg={_q(str(exc))}", status_code=303)
        return RedirectResponse("/users", status_code=303)

    @app.get("/tokens", include_in_schema=False)
    def tokens_page(request: Request, me: tuple[User, str] = Depends(page_user)) -> Response:
        return page(request, "tokens.html", {"user": me[0], "csrf": me[1], "token": None})

    @app.post("/tokens", include_in_schema=False)
    def tokens_post(request: Request, name: str = Form("client"), csrf_token: str = Form(""),
                    me: tuple[User, str] = Depends(page_user)) -> Response:
        check_form_csrf(me[1], csrf_token)
        token = svc.create_api_token(database, me[0].id, name=name)
        return page(request, "tokens.html", {"user": me[0], "csrf": me[1], "token": token})

    @app.get("/docs", include_in_schema=False)
    def docs_page(request: Request) -> Response:
        found = auth(request)
        return page(request, "docs.html", {"user": found[0] if found else None, "csrf": found[1] if found else None,
                                           "spec": app.openapi()})

    # ---------------- JSON API
    @app.get("/api/health", tags=["meta"])
    def health() -> dict[str, Any]:
        """Liveness and whether the first admin exists (``has_admin`` false: the first-run page is open)."""
        return {"ok": True, "has_users": svc.has_users(database), "has_admin": svc.has_admin(database)}

    @app.post("/api/login", tags=["auth"])
    def api_login(body: LoginIn) -> dict[str, Any]:
        """Exchange a username and password for a new API token."""
        user = svc.authenticate(database, body.username, body.password)
        if user is None:
            raise UnauthorizedError("wrong username or password")
        return {"token": svc.create_api_token(database, user.id, name=body.token_name), "user": _user(user)}

    @app.get("/api/me", tags=["auth"])
    def api_me(user: User = Depends(api_user)) -> dict[str, Any]:
        """The authenticated user."""
        return _user(user)

    @app.get("/api/users", tags=["users"])
    def api_users(user: User = Depends(api_user)) -> list[dict[str, Any]]:
        """All users (admin)."""
        need(user, "admin")
        return svc.list_users(database)

    @app.post("/api/users", tags=["users"], status_code=201)
    def api_create_user(body: UserIn, user: User = Depends(api_user)) -> dict[str, Any]:
        """Create a user (admin)."""
        need(user, "admin")
        return svc.create_user(database, body.username, body.password, role=body.role)

    @app.get("/api/projects", tags=["projects"])
    def api_projects(user: User = Depends(api_user)) -> list[dict[str, Any]]:
        """All projects."""
        return svc.list_projects(database)

    @app.post("/api/projects", tags=["projects"], status_code=201)
    def api_create_project(body: ProjectIn, user: User = Depends(api_user)) -> dict[str, Any]:
        """Create a project (admin)."""
        need(user, "admin")
        return svc.create_project(database, body.name, task_type=body.task_type, guidelines=body.guidelines,
                                  overlap=body.overlap, gold_rate=body.gold_rate, criteria=body.criteria,
                                  scale=body.scale)

    @app.get("/api/projects/{project}", tags=["projects"])
    def api_project(project: str, user: User = Depends(api_user)) -> dict[str, Any]:
        """One project by id or name."""
        return svc.get_project(database, project)

    @app.post("/api/projects/{project}/tasks", tags=["projects"], status_code=201)
    def api_add_tasks(project: str, body: TasksIn, user: User = Depends(api_user)) -> dict[str, Any]:
        """Add tasks (admin): all or nothing; an error names the bad row."""
        need(user, "admin")
        n = svc.add_tasks(database, project, enumerate(body.tasks, 1), what="task")
        return {"imported": n}

    # the two annotator hot-path routes answer with orjson directly (response_model only documents them):
    # FastAPI's validate-then-serialise of a dict[str, Any] cost more than the SQL of a submit
    @app.get("/api/projects/{project}/next", tags=["annotate"], response_model=dict[str, Any])
    def api_next(project: str, user: User = Depends(api_user)) -> Response:
        """Your current or next task (responses in your display order); ``task`` is null when done."""
        return _json({"task": svc.next_task(database, user.id, project)})

    @app.get("/api/tasks/{task_id}", tags=["annotate"])
    def api_task(task_id: int, user: User = Depends(api_user)) -> dict[str, Any]:
        """One task: annotators only see tasks in their queue."""
        return svc.get_task_for(database, user, task_id)

    @app.post("/api/tasks/{task_id}/judgements", tags=["annotate"], status_code=201,
              response_model=dict[str, Any])
    def api_submit(task_id: int, body: SubmitIn, user: User = Depends(api_user)) -> Response:
        """Submit a judgement (201), idempotent by ``client_key`` (a repeat returns the stored one with 200)."""
        j, created = svc.submit(database, user.id, task_id, client_key=body.client_key, value=body.value,
                                comment=body.comment, displayed=body.displayed)
        return _json(j, 201 if created else 200)

    @app.post("/api/tasks/{task_id}/skip", tags=["annotate"])
    def api_skip(task_id: int, body: SkipIn, user: User = Depends(api_user)) -> dict[str, Any]:
        """Skip a task in your queue, with a reason."""
        svc.skip(database, user.id, task_id, reason=body.reason)
        return {"skipped": task_id}

    @app.get("/api/projects/{project}/judgements", tags=["quality"])
    def api_judgements(project: str, user: User = Depends(api_user)) -> list[dict[str, Any]]:
        """Judgements of a project: annotators get only their own."""
        only = user.id if user.role == "annotator" else None
        return svc.list_judgements(database, project, user_id=only)

    @app.get("/api/judgements/{judgement_id}", tags=["quality"])
    def api_judgement(judgement_id: int, user: User = Depends(api_user)) -> dict[str, Any]:
        """One judgement (annotators: only their own)."""
        return svc.get_judgement_for(database, user, judgement_id)

    @app.get("/api/projects/{project}/agreement", tags=["quality"])
    def api_agreement(project: str, user: User = Depends(api_user)) -> dict[str, Any]:
        """Agreement (Krippendorff, Fleiss, Cohen per pair) and per-annotator stats (reviewer)."""
        from datamill.feedback.quality import agreement_report

        need(user, "reviewer")
        return agreement_report(database, project)

    @app.get("/api/projects/{project}/disagreements", tags=["quality"])
    def api_disagreements(project: str, user: User = Depends(api_user)) -> list[dict[str, Any]]:
        """Tasks whose judgements disagree (reviewer)."""
        from datamill.feedback.quality import disagreements

        need(user, "reviewer")
        return disagreements(database, project)

    @app.post("/api/tasks/{task_id}/resolution", tags=["quality"])
    def api_resolve(task_id: int, body: ResolveIn, user: User = Depends(api_user)) -> dict[str, Any]:
        """Set the final answer of a disputed task (admin); export uses it over the votes."""
        need(user, "admin")
        return svc.resolve(database, user.id, task_id, value=body.value, note=body.note)

    @app.get("/api/projects/{project}/export", tags=["export"])
    def api_export(project: str, format: Literal["dpo", "reward", "kto", "sft", "raw"] = "dpo",
                   policy: Literal["majority", "gold-weighted"] = "majority",
                   min_agreement: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0,
                   user: User = Depends(api_user)) -> list[dict[str, Any]]:
        """Export rows (admin): dpo/reward/kto/sft/raw, aggregated by majority or gold-weighted votes."""
        from datamill.feedback.export import export_rows

        need(user, "admin")
        return export_rows(database, project, format, policy=policy, min_agreement=min_agreement)

    return app


class _SecurityHeaders:
    """Pure ASGI middleware adding CSP and friends to every response (cheaper than BaseHTTPMiddleware)."""

    HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
               (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin")]

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


def _json(data: Any, status: int = 200) -> Response:
    import orjson

    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _user(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "role": u.role}


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text[:500])


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "export"


def _form_value(p: dict[str, Any], form: Any) -> dict[str, Any]:
    """A judgement value (in displayed positions) from the annotation form fields."""
    tt = p["task_type"]

    def num(key: str) -> int:
        raw = str(form.get(key, "")).strip()
        if not raw.lstrip("-").isdigit():
            raise InputError(f"choose a value for {key}")
        return int(raw)

    if tt == "pairwise":
        pref = str(form.get("preferred", "")).strip()
        if pref not in ("0", "1", "tie"):
            raise InputError("choose A, B or tie")
        v: dict[str, Any] = {"preferred": None if pref == "tie" else int(pref), "reason": str(form.get("reason", ""))}
        if str(form.get("strength", "")).strip():
            v["strength"] = num("strength")
        return v
    if tt == "ranking":
        ranks = sorted((k for k in form if k.startswith("rank_")), key=lambda k: int(k[5:]) if k[5:].isdigit() else 0)
        pos = [(num(k), int(k[5:])) for k in ranks if k[5:].isdigit()]
        if sorted(r for r, _ in pos) != list(range(1, len(pos) + 1)):
            raise InputError("give every response a different rank (1 = best)")
        return {"ranking": [i for _, i in sorted(pos)]}
    if tt == "rubric":
        n = int(str(form.get("n_responses", "0")) or 0) if str(form.get("n_responses", "0")).isdigit() else 0
        return {"scores": [{c: num(f"score_{i}_{c}") for c in p["criteria"]} for i in range(n)]}
    if tt == "rewrite":
        return {"source": num("source"), "rewrite": str(form.get("rewrite", ""))}
    return {"comment": str(form.get("comment_text", ""))}


def app_from_env() -> FastAPI:
    """App factory for multi-worker uvicorn: the database URL comes from ``$DATABASE_URL``."""
    return create_app(None)

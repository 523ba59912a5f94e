"""Helpers of the feedback tests: fresh PostgreSQL schemas, a form-aware web client, a live uvicorn server."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def fresh_pg_schema(postgres_url: str) -> tuple[str, str]:
    """Create a new schema; returns (url whose search_path is that schema, schema name)."""
    import psycopg

    name = f"fbtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in postgres_url else "?"
    return f"{postgres_url}{sep}options=-csearch_path%3D{name}", name


def drop_pg_schema(name: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class Web:
    """A TestClient logged in through the real forms, with the session's CSRF token at hand."""

    def __init__(self, app: Any) -> None:
        from fastapi.testclient import TestClient

        self.app = app
        self.c = TestClient(app)
        self.csrf = ""

    def setup_admin(self, username: str = "admin", password: str = "adminpass1") -> Web:
        tok = CSRF_RE.search(self.c.get("/setup").text).group(1)
        r = self.c.post(
            "/setup",
            data={"username": username, "password": password, "csrf_token": tok},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        self.csrf = CSRF_RE.search(self.c.get("/").text).group(1)
        return self

    def login(self, username: str, password: str) -> Web:
        tok = CSRF_RE.search(self.c.get("/login").text).group(1)
        r = self.c.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": tok},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        self.csrf = CSRF_RE.search(self.c.get("/").text).group(1)
        return self

    def annotate(self, project: int | str) -> str:
        """The annotate page with a task claimed (a GET claims none: the page's form does, by POST)."""
        text = self.c.get(f"/projects/{project}/annotate").text
        if 'id="claim-form"' in text:
            r = self.c.post(f"/projects/{project}/annotate", data={"csrf_token": self.csrf})
            text = r.text
        return text

    def api(self, method: str, path: str, **kw: Any) -> Any:
        return self.c.request(method, path, headers={"X-CSRF-Token": self.csrf}, **kw)


class LiveServer:
    """The app served by a real uvicorn in a background thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import socket
        import threading
        import time

        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@contextmanager
def backend_url(request: Any, tmp_path: Any, name: str) -> Iterator[str]:
    """An empty database for ``request.param``: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / name}"
        return
    url, schema = fresh_pg_schema(request.getfixturevalue("postgres_url"))
    try:
        yield url
    finally:
        drop_pg_schema(schema)


def join_all(db: Any, project: Any) -> None:
    """Make every annotator and reviewer a member of ``project`` (a project dict, id or name)."""
    from datamill.feedback import service as svc

    ref = project["id"] if isinstance(project, dict) else project
    for u in svc.list_users(db):
        if u["role"] != "admin":
            svc.add_member(db, ref, u["id"])

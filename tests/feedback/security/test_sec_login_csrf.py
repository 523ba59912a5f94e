"""Login CSRF by cookie tossing, in real Chromium: a page on another port sets the pre-session cookie and posts
the login (or first-run) form with the attacker's credentials; the victim's browser must not be logged in.

Both the naive attack (a cookie value the attacker made up) and the replay (a cookie/token pair the attacker
fetched from the server) are tried, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import html

import httpx
import pytest
from feedback_helpers import CSRF_RE, LiveServer

from datamill.feedback import service as svc


@pytest.fixture
def victim(db_url):  # noqa: ANN001, ANN201
    """The app on a live server: (server, db)."""
    from datamill.feedback.app import create_app
    from datamill.feedback.db import Database

    db = Database(db_url)
    server = LiveServer(create_app(db))
    yield server, db
    server.stop()
    db.dispose()


class Attacker:
    """A second origin (same host, another port) serving whatever page the test sets."""

    def __init__(self) -> None:
        from starlette.applications import Starlette
        from starlette.responses import HTMLResponse
        from starlette.routing import Route

        self.html = ""

        async def home(_request):  # noqa: ANN001, ANN202
            return HTMLResponse(self.html)

        self.server = LiveServer(Starlette(routes=[Route("/", home)]))

    def toss_and_post(self, target: str, cookie: str, token: str, username: str, password: str) -> str:
        fields = {"username": username, "password": password, "csrf_token": token}
        inputs = "".join(
            f'<input name="{k}" value="{html.escape(v, quote=True)}">' for k, v in fields.items()
        )
        self.html = (
            f"<script>document.cookie = {cookie!r} + '; path=/';</script>"
            f'<form id="f" method="post" action="{target}">{inputs}</form>'
            "<script>document.getElementById('f').submit();</script>"
        )
        return self.server.url + "/"


@pytest.fixture
def attacker():  # noqa: ANN201
    a = Attacker()
    yield a
    a.server.stop()


def _sessions(db) -> int:  # noqa: ANN001
    from sqlalchemy import func, select

    from datamill.feedback.models import Session

    with db.read() as s:
        return s.scalar(select(func.count()).select_from(Session))


def _attack(browser, attacker, url: str, cookie: str, token: str, user: str, pw: str) -> tuple[int, list]:  # noqa: ANN001
    ctx = browser.new_context()
    page = ctx.new_page()
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.request.method == "POST" else None)
    page.goto(attacker.toss_and_post(url, cookie, token, user, pw))
    page.wait_for_load_state("load")
    cookies = [c["name"] for c in ctx.cookies()]
    ctx.close()
    return (statuses[0] if statuses else 0), cookies


@pytest.mark.browser
def test_login_csrf_by_cookie_tossing_is_refused(browser, victim, attacker) -> None:  # noqa: ANN001
    server, db = victim
    svc.create_user(db, "admin", "admin-password", role="admin")
    svc.create_user(db, "mallory", "mallory-password")
    target = f"{server.url}/login"
    # 1. a value the attacker made up
    status, cookies = _attack(
        browser, attacker, target, "dm_precsrf=KNOWN", "KNOWN", "mallory", "mallory-password"
    )
    assert status == 403 and "dm_session" not in cookies and _sessions(db) == 0
    # 2. a real cookie/token pair the attacker fetched for themselves, replayed from the other origin
    r = httpx.get(target)
    token = CSRF_RE.search(r.text).group(1)
    pair = f"dm_precsrf={r.cookies['dm_precsrf']}"
    status, cookies = _attack(browser, attacker, target, pair, token, "mallory", "mallory-password")
    assert status == 403 and "dm_session" not in cookies and _sessions(db) == 0
    # the app's own form still logs in, in the same browser
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(target)
    page.fill("input[name=username]", "mallory")
    page.fill("input[name=password]", "mallory-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    assert "dm_session" in [c["name"] for c in ctx.cookies()] and _sessions(db) == 1
    ctx.close()


@pytest.mark.browser
def test_first_run_csrf_by_cookie_tossing_is_refused(browser, victim, attacker) -> None:  # noqa: ANN001
    server, db = victim
    target = f"{server.url}/setup"
    status, cookies = _attack(
        browser, attacker, target, "dm_precsrf=KNOWN", "KNOWN", "mallory", "mallory-pw1"
    )
    assert status == 403 and "dm_session" not in cookies
    r = httpx.get(target)
    token = CSRF_RE.search(r.text).group(1)
    pair = f"dm_precsrf={r.cookies['dm_precsrf']}"
    status, cookies = _attack(browser, attacker, target, pair, token, "mallory", "mallory-pw1")
    assert status == 403 and "dm_session" not in cookies
    assert not svc.has_users(db) and _sessions(db) == 0


def test_pre_session_token_is_signed_bound_and_same_origin(app_db, monkeypatch) -> None:  # noqa: ANN001
    """Without a browser: each check alone refuses its forgery (no Origin or Sec-Fetch-Site sent)."""
    from fastapi.testclient import TestClient

    from datamill.feedback.routes import presession

    app, db = app_db
    svc.create_user(db, "admin", "admin-password", role="admin")
    form = {"username": "admin", "password": "admin-password"}

    def post(cookie: str | None, token: str, **headers: str) -> int:
        c = TestClient(app)
        if cookie is not None:
            c.cookies.set("dm_precsrf", cookie)
        return c.post(
            "/login", data={**form, "csrf_token": token}, headers=headers, follow_redirects=False
        ).status_code

    c = TestClient(app)
    token = CSRF_RE.search(c.get("/login").text).group(1)
    cookie = c.cookies["dm_precsrf"]
    assert token not in cookie  # the form token is no copy of the cookie
    assert post("KNOWN", "KNOWN") == 403  # made up
    nonce, stamp, sig = cookie.split(".")
    assert post(f"{nonce}.{stamp}.{sig[:-2]}xx", token) == 403  # a signature not ours
    assert post(f"{nonce}.{int(stamp) + 1}.{sig}", token) == 403  # another time stamp
    assert post(cookie, token[:-2] + "xx") == 403  # a token of another nonce
    assert post(None, token) == 403
    other = TestClient(app)
    other.get("/login")
    assert post(other.cookies["dm_precsrf"], token) == 403  # another visitor's cookie
    assert post(cookie, token, **{"Sec-Fetch-Site": "same-site"}) == 403
    assert post(cookie, token, **{"Sec-Fetch-Site": "cross-site"}) == 403
    assert post(cookie, token, Origin="http://testserver:9999") == 403
    assert post(cookie, token, Origin="null") == 403
    monkeypatch.setattr(presession, "PRE_CSRF_MAX_AGE", -1)
    assert post(cookie, token) == 403  # expired
    monkeypatch.undo()
    assert post(cookie, token, Origin="http://testserver", **{"Sec-Fetch-Site": "same-origin"}) == 303
    # a server with another key does not take this one's tokens
    from datamill.feedback.app import create_app

    assert create_app(db).state.secret != app.state.secret
    assert create_app(db, secret="k").state.secret == b"k"

"""Tokens minted by a password login expire; over https the session cookie is ``__Host-`` prefixed and the
unprefixed name is never read there (a sibling subdomain or a plain-http page cannot plant a session)."""

from __future__ import annotations

from datetime import datetime, timedelta

from feedback_helpers import CSRF_RE

from datamill.feedback import service as svc
from datamill.feedback.models import utcnow


def _client(db_url: str, base: str):  # noqa: ANN202
    from fastapi.testclient import TestClient

    from datamill.feedback.app import create_app

    return TestClient(create_app(db_url), base_url=base)


def _left(stamp: str) -> timedelta:
    return datetime.fromisoformat(stamp) - utcnow()


def test_api_login_tokens_expire_by_default_and_on_request(db_url) -> None:  # noqa: ANN001
    from datamill.feedback.db import Database

    db = Database(db_url)
    try:
        svc.create_user(db, "ann", "ann-password-1")
        c = _client(db_url, "http://testserver")
        body = {"username": "ann", "password": "ann-password-1"}
        default = c.post("/api/login", json=body).json()
        assert timedelta(days=29) < _left(default["expires_at"]) <= timedelta(days=30)
        short = c.post("/api/login", json={**body, "expires_days": 0.5}).json()
        assert timedelta(hours=11) < _left(short["expires_at"]) <= timedelta(hours=12)
        forever = c.post("/api/login", json={**body, "expires_days": None}).json()
        assert forever["expires_at"] is None
        me = c.get("/api/me", headers={"Authorization": f"Bearer {short['token']}"})
        assert me.json()["username"] == "ann"
        for bad in (0, -1, 5000, "soon"):
            assert c.post("/api/login", json={**body, "expires_days": bad}).status_code == 422, bad
        stored = sorted(t["expires_at"] is None for t in svc.list_api_tokens(db))
        assert stored == [False, False, True]  # what the server keeps matches what it answered
    finally:
        db.dispose()


def test_https_session_cookie_is_host_prefixed_and_the_plain_name_is_ignored(db_url) -> None:  # noqa: ANN001
    c = _client(db_url, "https://testserver")
    tok = CSRF_RE.search(c.get("/setup").text).group(1)
    r = c.post(
        "/setup",
        data={"username": "admin", "password": "adminpass1", "csrf_token": tok},
        follow_redirects=False,
    )
    token = c.cookies.get("__Host-dm_session")
    assert token and "dm_session" not in c.cookies  # only the prefixed name is set
    assert c.get("/", follow_redirects=False).status_code == 200
    # the same valid token under the unprefixed name (what a sibling subdomain could set) is no session
    other = _client(db_url, "https://testserver")
    other.cookies.set("dm_session", token)
    assert other.get("/", follow_redirects=False).status_code == 303
    # logout ends the prefixed session and clears its cookie
    csrf = CSRF_RE.search(c.get("/").text).group(1)
    out = c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and any(
        v.startswith("__Host-dm_session=") and "Max-Age=0" in v for v in out.headers.get_list("set-cookie")
    )
    again = _client(db_url, "https://testserver")
    again.cookies.set("__Host-dm_session", token)
    assert again.get("/", follow_redirects=False).status_code == 303
    assert r.status_code == 303


def test_admin_user_creation_hashes_under_the_login_hash_bound(app_db) -> None:  # noqa: ANN001
    from feedback_helpers import Web

    from datamill.feedback.limits import LoginLimits

    app, db = app_db
    web = Web(app).setup_admin()
    admin = {"Authorization": f"Bearer {svc.create_api_token(db, svc.list_users(db)[0]['id'])}"}
    app.state.limits = LoginLimits(hash_slots=1, max_wait=0.05, max_waiting=0)
    gate = app.state.limits.gate
    assert gate._sem.acquire(blocking=False)  # every hashing slot taken (e.g. by a login flood)
    try:
        body = {"username": "ann", "password": "ann-password-1"}
        busy = web.c.post("/api/users", json=body, headers=admin)
        assert busy.status_code == 503 and busy.headers.get("retry-after")
        page = web.c.post("/users", data={**body, "csrf_token": web.csrf}, follow_redirects=False)
        assert page.status_code == 503
        assert [u["username"] for u in svc.list_users(db)] == ["admin"]
    finally:
        gate._sem.release()
    assert web.c.post("/api/users", json=body, headers=admin).status_code == 201
    assert (
        web.c.post(
            "/users", data={**body, "username": "bob", "csrf_token": web.csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    assert sorted(u["username"] for u in svc.list_users(db)) == ["admin", "ann", "bob"]

"""What a team running the app for months needs, on SQLite and PostgreSQL: API tokens with expiry that their
owner or an admin lists and revokes, role changes and deactivation, and an audit log of admin actions that
admins read and export (JSON Lines, CSV)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from feedback_helpers import Web

from datamill.feedback import service as svc


def _bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def test_tokens_list_expire_and_revoke_by_owner_and_admin(app_db) -> None:  # noqa: ANN001
    from datamill.feedback.models import ApiToken, utcnow

    app, db = app_db
    admin = Web(app).setup_admin()
    c = admin.c
    ann = svc.create_user(db, "ann", "ann-password")["id"]
    bob = svc.create_user(db, "bob", "bob-password")["id"]
    t_ann = svc.create_api_token(db, ann, name="laptop")
    t_bob = svc.create_api_token(db, bob, name="script")
    # a token with an expiry: listed with it; create through the API (201, shown once)
    r = c.post("/api/tokens", json={"name": "ci", "expires_days": 30}, headers=_bearer(t_ann))
    assert r.status_code == 201 and r.json()["token"].startswith("dmf_") and r.json()["expires_at"]
    t_ci, ci_id = r.json()["token"], r.json()["id"]
    assert c.post("/api/tokens", json={"expires_days": 0}, headers=_bearer(t_ann)).status_code == 422
    mine = c.get("/api/tokens", headers=_bearer(t_ann)).json()
    assert [t["name"] for t in mine] == ["ci", "laptop"] and all("token" not in t for t in mine)
    assert all(t["username"] == "ann" for t in mine)
    assert c.get("/api/tokens?all=true", headers=_bearer(t_ann)).status_code == 403
    everyone = admin.api("GET", "/api/tokens?all=true").json()
    assert {t["username"] for t in everyone} == {"ann", "bob"}
    # an expired token stops working (and is listed as expired)
    with db.write() as s:
        s.get(ApiToken, ci_id).expires_at = utcnow() - timedelta(seconds=1)
    db.cache.clear()
    assert c.get("/api/me", headers=_bearer(t_ci)).status_code == 401
    assert [t["expired"] for t in c.get("/api/tokens", headers=_bearer(t_ann)).json()] == [True, False]
    # the owner revokes their own; someone else's is a 404 to them (not a 403: no probing of ids)
    bob_id = next(t["id"] for t in everyone if t["username"] == "bob")
    ann_id = next(t["id"] for t in mine if t["name"] == "laptop")
    assert c.delete(f"/api/tokens/{bob_id}", headers=_bearer(t_ann)).status_code == 404
    assert c.get("/api/me", headers=_bearer(t_bob)).status_code == 200  # cached: and still revoked at once
    assert c.delete(f"/api/tokens/{ann_id}", headers=_bearer(t_ann)).status_code == 200
    assert c.get("/api/me", headers=_bearer(t_ann)).status_code == 401
    # the admin revokes anyone's, at once even though the token was just used (and cached)
    assert admin.api("DELETE", f"/api/tokens/{bob_id}").status_code == 200
    assert c.get("/api/me", headers=_bearer(t_bob)).status_code == 401
    assert admin.api("DELETE", f"/api/tokens/{bob_id}").status_code == 404
    # the tokens page: a form with an expiry, the user's tokens, revoke buttons (CSRF-checked)
    page = admin.c.get("/tokens").text
    assert 'name="expires_days"' in page and "Everyone" in page
    r = admin.c.post("/tokens", data={"name": "web", "expires_days": "7", "csrf_token": admin.csrf})
    assert r.status_code == 200 and 'id="new-token"' in r.text
    web_tok = svc.list_api_tokens(db, user_id=svc.user_by_name(db, "admin").id)[0]
    assert web_tok["name"] == "web" and web_tok["expires_at"] is not None
    assert admin.c.post(f"/tokens/{web_tok['id']}/revoke", data={}).status_code == 403  # no CSRF token
    r = admin.c.post(
        f"/tokens/{web_tok['id']}/revoke", data={"csrf_token": admin.csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and svc.list_api_tokens(db, user_id=web_tok["user_id"]) == []


def test_roles_deactivation_and_the_last_admin(app_db) -> None:  # noqa: ANN001
    app, db = app_db
    admin = Web(app).setup_admin()
    svc.create_user(db, "ann", "ann-password")
    tok = svc.create_api_token(db, svc.user_by_name(db, "ann").id)
    ann_web = Web(app).login("ann", "ann-password")
    assert admin.c.get("/api/me", headers=_bearer(tok)).status_code == 200
    assert admin.c.patch("/api/users/ann", json={"role": "admin"}, headers=_bearer(tok)).status_code == 403
    r = admin.api("PATCH", "/api/users/ann", json={"role": "reviewer"})
    assert r.status_code == 200 and r.json()["changed"] == {"role": ["annotator", "reviewer"]}
    # deactivation ends the sessions and stops the tokens at once
    assert admin.api("PATCH", "/api/users/ann", json={"active": False}).status_code == 200
    assert admin.c.get("/api/me", headers=_bearer(tok)).status_code == 401
    assert ann_web.c.get("/", follow_redirects=False).status_code == 303
    # the last active admin cannot demote or deactivate themself
    assert admin.api("PATCH", "/api/users/admin", json={"role": "annotator"}).status_code == 409
    assert admin.api("PATCH", "/api/users/admin", json={"active": False}).status_code == 409
    # through the users page form
    uid = svc.user_by_name(db, "ann").id
    r = admin.c.post(f"/users/{uid}", data={"active": "1", "csrf_token": admin.csrf}, follow_redirects=False)
    assert r.status_code == 303 and svc.user_by_name(db, "ann").active


def test_audit_log_records_admin_actions_and_exports(app_db, tmp_path) -> None:  # noqa: ANN001
    app, db = app_db
    admin = Web(app).setup_admin()
    # users, roles, projects, memberships, imports, exports, resolutions, tokens: through the app
    assert (
        admin.api("POST", "/api/users", json={"username": "ann", "password": "ann-password"}).status_code
        == 201
    )
    assert (
        admin.api("POST", "/api/users", json={"username": "ann2", "password": "ann-password"}).status_code
        == 201
    )
    admin.api("PATCH", "/api/users/ann2", json={"role": "reviewer"})
    assert admin.api("POST", "/api/projects", json={"name": "audited", "overlap": 2}).status_code == 201
    tasks = [{"id": "t1", "prompt": "q", "responses": ["a", "b"]}]
    assert admin.api("POST", "/api/projects/audited/tasks", json={"tasks": tasks}).status_code == 201
    for name in ("ann", "ann2"):
        assert admin.api("POST", "/api/projects/audited/members", json={"user": name}).status_code == 201
    for name, pick in (("ann", 0), ("ann2", 1)):
        uid = svc.user_by_name(db, name).id
        t = svc.next_task(db, uid, "audited")
        svc.submit(db, uid, t["task_id"], client_key=f"key-{name}-0001", value={"preferred": pick})
    assert (
        admin.api(
            "POST", f"/api/tasks/{t['task_id']}/resolution", json={"value": {"preferred": 0}}
        ).status_code
        == 200
    )
    assert admin.api("GET", "/api/projects/audited/export?format=dpo").status_code == 200
    assert admin.api("DELETE", "/api/projects/audited/members/ann2").status_code == 200
    assert admin.api("POST", "/api/tokens", json={"name": "ci"}).status_code == 201
    events = admin.api("GET", "/api/audit").json()
    actions = [e["action"] for e in reversed(events)]
    assert actions == [
        "user.create",  # the first-run admin
        "user.create",
        "user.create",
        "user.update",
        "project.create",
        "tasks.import",
        "member.add",
        "member.add",
        "resolution",
        "export",
        "member.remove",
        "token.create",
    ]
    assert all(e["actor"] == "admin" for e in events)
    assert events[-1]["detail"] == {"role": "admin", "first_run": True} and events[-1]["actor_id"] is None
    assert all(e["actor_id"] for e in events[:-1])
    by = {e["action"]: e for e in events}
    assert by["export"]["target"] == "audited" and by["export"]["detail"] == {
        "format": "dpo",
        "policy": "majority",
        "rows": 1,
    }
    assert by["user.update"]["detail"] == {"role": ["annotator", "reviewer"]}
    assert by["member.remove"]["detail"]["user"] == "ann2"
    # filter and page
    assert [e["action"] for e in admin.api("GET", "/api/audit?action=member.add").json()] == [
        "member.add"
    ] * 2
    first = admin.api("GET", "/api/audit?limit=2").json()
    older = admin.api("GET", f"/api/audit?limit=2&before={first[-1]['id']}").json()
    assert [e["id"] for e in first + older] == [e["id"] for e in events[:4]]
    # exports: JSON Lines and CSV, oldest first, every event
    r = admin.api("GET", "/api/audit/export?format=jsonl")
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert [e["id"] for e in lines] == [e["id"] for e in reversed(events)]
    r = admin.api("GET", "/api/audit/export?format=csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [x["action"] for x in rows] == actions and json.loads(rows[-2]["detail"])["user"] == "ann2"
    # the page (admin only), and its downloads
    page = admin.c.get("/audit").text
    assert "member.remove" in page and 'href="/audit/export?format=csv' in page
    assert admin.c.get("/audit/export?format=csv").text.startswith("id,at,actor")
    ann_web = Web(app).login("ann", "ann-password")
    for path in ("/audit", "/audit/export?format=csv"):
        assert ann_web.c.get(path).status_code == 403
    assert (
        admin.c.get(
            "/api/audit", headers=_bearer(svc.create_api_token(db, svc.user_by_name(db, "ann").id))
        ).status_code
        == 403
    )
    # the library writes the same log to a file
    out = tmp_path / "audit.csv"
    assert svc.export_audit(db, out) == len(events)
    assert out.read_text().splitlines()[0] == "id,at,actor,actor_id,action,target,detail"


def test_cli_records_its_admin_actions(tmp_path) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    from datamill.cli.main import app

    runner = CliRunner()
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}

    def run(*args: str) -> str:
        r = runner.invoke(app, ["feedback", *args], env=env, catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r.output

    run("create-user", "ann", "--password", "ann-password", "--token")
    run("create-project", "p1")
    run("add-member", "p1", "ann")
    tokens = json.loads(run("tokens", "--json"))
    assert [t["username"] for t in tokens] == ["ann"]
    run("revoke-token", str(tokens[0]["id"]))
    assert json.loads(run("tokens", "--json")) == []
    out = tmp_path / "audit.jsonl"
    run("audit", "--output", str(out))
    events = [json.loads(x) for x in out.read_text().splitlines()]
    assert [e["action"] for e in events] == [
        "user.create",
        "token.create",
        "project.create",
        "member.add",
        "token.revoke",
    ]
    assert all(e["actor"].startswith("cli:") and e["actor_id"] is None for e in events)
    assert "member.add" in run("audit")

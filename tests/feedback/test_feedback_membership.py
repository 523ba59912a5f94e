"""Project membership on SQLite and PostgreSQL: a user sees, annotates and exports only their projects; any
other project, task or judgement id is a 404 (the IDOR class), and an upgrade keeps existing users at work."""

from __future__ import annotations

import uuid

from feedback_helpers import Web

from datamill.feedback import service as svc

SECRET = "B-only guideline: the codeword is PELICAN"


def _bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def _setup(db):  # noqa: ANN001, ANN202
    users = {}
    for name, role in (("ann_a", "annotator"), ("ann_b", "annotator"), ("rev_a", "reviewer")):
        uid = svc.create_user(db, name, f"{name}-password", role=role)["id"]
        users[name] = (uid, svc.create_api_token(db, uid))
    projects = {}
    for key, guide in (("A", "project A rules"), ("B", SECRET)):
        p = svc.create_project(db, f"proj-{key}", task_type="pairwise", overlap=2, guidelines=guide)
        rows = [{"id": f"{key}{i}", "prompt": f"{key} q{i}", "responses": ["x", "y"]} for i in range(3)]
        svc.add_tasks(db, p["id"], enumerate(rows, 1))
        projects[key] = p
    svc.add_member(db, projects["A"]["id"], "ann_a")
    svc.add_member(db, projects["A"]["id"], "rev_a")
    svc.add_member(db, projects["B"]["id"], "ann_b")
    return users, projects


def test_annotator_of_a_cannot_reach_project_b_by_id(app_db) -> None:  # noqa: ANN001
    app, db = app_db
    admin = Web(app).setup_admin()
    users, projects = _setup(db)
    a, b = projects["A"]["id"], projects["B"]["id"]
    c = admin.c
    tok_a, tok_b, tok_r = (users[n][1] for n in ("ann_a", "ann_b", "rev_a"))
    # B's annotator takes and judges a task of B
    tb = c.get(f"/api/projects/{b}/next", headers=_bearer(tok_b)).json()["task"]
    r = c.post(
        f"/api/tasks/{tb['task_id']}/judgements",
        json={"client_key": uuid.uuid4().hex, "value": {"preferred": 0}},
        headers=_bearer(tok_b),
    )
    assert r.status_code == 201
    jb = r.json()["id"]
    tb2 = c.get(f"/api/projects/{b}/next", headers=_bearer(tok_b)).json()["task"]  # an open one of B
    # A's annotator: lists only A; everything of B by id or name is a 404, exactly as a missing project
    assert [p["name"] for p in c.get("/api/projects", headers=_bearer(tok_a)).json()] == ["proj-A"]
    missing = c.get("/api/projects/999999", headers=_bearer(tok_a))
    for ref in (b, "proj-B"):
        r = c.get(f"/api/projects/{ref}", headers=_bearer(tok_a))
        assert r.status_code == 404 and SECRET not in r.text
        assert r.json()["error"].startswith("no project") and missing.json()["error"].startswith("no project")
        for path in ("next", "judgements", "export", "agreement", "disagreements", "members"):
            assert c.get(f"/api/projects/{ref}/{path}", headers=_bearer(tok_a)).status_code in (403, 404)
        assert c.get(f"/api/projects/{ref}/next", headers=_bearer(tok_a)).status_code == 404
        assert c.get(f"/api/projects/{ref}/judgements", headers=_bearer(tok_a)).status_code == 404
    for tid in (tb["task_id"], tb2["task_id"]):
        assert c.get(f"/api/tasks/{tid}", headers=_bearer(tok_a)).status_code == 404
        body = {"client_key": uuid.uuid4().hex, "value": {"preferred": 0}}
        assert c.post(f"/api/tasks/{tid}/judgements", json=body, headers=_bearer(tok_a)).status_code == 404
        assert (
            c.post(f"/api/tasks/{tid}/skip", json={"reason": "x"}, headers=_bearer(tok_a)).status_code == 404
        )
    assert c.get(f"/api/judgements/{jb}", headers=_bearer(tok_a)).status_code == 404
    # A's reviewer: agreement and export of A, nothing of B
    assert c.get(f"/api/projects/{a}/agreement", headers=_bearer(tok_r)).status_code == 200
    assert c.get(f"/api/projects/{a}/export?format=raw", headers=_bearer(tok_r)).status_code == 200
    for path in ("agreement", "disagreements", "export", "judgements"):
        assert c.get(f"/api/projects/{b}/{path}", headers=_bearer(tok_r)).status_code == 404, path
    assert c.get(f"/api/judgements/{jb}", headers=_bearer(tok_r)).status_code == 404
    assert c.get(f"/api/tasks/{tb['task_id']}", headers=_bearer(tok_r)).status_code == 404
    # nothing of B ever reaches A's people through the pages either
    web_a = Web(app).login("ann_a", "ann_a-password")
    index = web_a.c.get("/").text
    assert "proj-A" in index and "proj-B" not in index
    for path in (f"/projects/{b}", f"/projects/{b}/annotate", "/projects/proj-B/annotate"):
        r = web_a.c.get(path)
        assert r.status_code == 404 and SECRET not in r.text, path
    form = {"csrf_token": web_a.csrf, "client_key": uuid.uuid4().hex, "preferred": "0"}
    for proj in (a, b):  # B's task under A's id in the URL is still B's task
        r = web_a.c.post(f"/projects/{proj}/tasks/{tb2['task_id']}/submit", data=form, follow_redirects=False)
        assert r.status_code == 404
        r = web_a.c.post(
            f"/projects/{proj}/tasks/{tb2['task_id']}/skip",
            data={"csrf_token": web_a.csrf, "reason": "x"},
            follow_redirects=False,
        )
        assert r.status_code == 404
    web_r = Web(app).login("rev_a", "rev_a-password")
    for path in (f"/projects/{b}", f"/projects/{b}/stats", f"/projects/{b}/disagreements"):
        assert web_r.c.get(path).status_code == 404, path
    assert web_r.c.get(f"/projects/{b}/export?format=raw").status_code == 404
    assert web_r.c.get(f"/projects/{a}/export?format=raw").status_code == 200
    assert web_r.c.get(f"/projects/{a}/members").status_code == 403  # members are the admin's business
    # nothing changed in B: one judgement, the open task still B's annotator's
    assert len(svc.list_judgements(db, b)) == 1
    assert svc.next_task(db, users["ann_b"][0], b)["task_id"] == tb2["task_id"]


def test_admin_manages_members_and_removal_releases_open_tasks(app_db) -> None:  # noqa: ANN001
    app, db = app_db
    admin = Web(app).setup_admin()
    users, projects = _setup(db)
    a = projects["A"]["id"]
    uid_b, tok_b = users["ann_b"]
    # the members page lists members and offers the others; adding through the form (CSRF-checked)
    page = admin.c.get(f"/projects/{a}/members").text
    assert "ann_a" in page and "rev_a" in page and f'value="{uid_b}"' in page
    assert admin.c.post(f"/projects/{a}/members", data={"user": str(uid_b)}).status_code == 403  # no CSRF
    r = admin.c.post(
        f"/projects/{a}/members", data={"user": str(uid_b), "csrf_token": admin.csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert {m["username"] for m in svc.list_members(db, a)} == {"ann_a", "ann_b", "rev_a"}
    # ann_b now works on A: takes a task (it holds one of the two overlap slots)
    t = admin.c.get(f"/api/projects/{a}/next", headers=_bearer(tok_b)).json()["task"]
    held = svc.get_task_for(db, svc.user_by_name(db, "admin"), t["task_id"])
    assert held["task_id"] == t["task_id"]
    # the API: an annotator may not manage members; the admin removes ann_b
    assert admin.c.delete(f"/api/projects/{a}/members/ann_a", headers=_bearer(tok_b)).status_code == 403
    r = admin.api("DELETE", f"/api/projects/{a}/members/ann_b")
    assert r.status_code == 200 and r.json()["released"] == 1
    assert admin.api("DELETE", f"/api/projects/{a}/members/ann_b").status_code == 404
    # at once: the project, the task and its submit are gone for ann_b
    assert admin.c.get(f"/api/projects/{a}", headers=_bearer(tok_b)).status_code == 404
    body = {"client_key": uuid.uuid4().hex, "value": {"preferred": 0}}
    assert (
        admin.c.post(f"/api/tasks/{t['task_id']}/judgements", json=body, headers=_bearer(tok_b)).status_code
        == 404
    )
    # the released slot is free again: two other members take the same task (overlap 2)
    taken = [svc.next_task(db, users[n][0], a)["task_id"] for n in ("ann_a", "rev_a")]
    assert taken.count(t["task_id"]) == 2
    # the API adds back (201), a repeat is 200, an admin or an unknown user is refused
    assert admin.api("POST", f"/api/projects/{a}/members", json={"user": "ann_b"}).status_code == 201
    assert admin.api("POST", f"/api/projects/{a}/members", json={"user": "ann_b"}).status_code == 200
    assert admin.api("POST", f"/api/projects/{a}/members", json={"user": "admin"}).status_code == 422
    assert admin.api("POST", f"/api/projects/{a}/members", json={"user": "nobody"}).status_code == 404
    assert [m["username"] for m in admin.api("GET", f"/api/projects/{a}/members").json()] == [
        "ann_a",
        "ann_b",
        "rev_a",
    ]


def test_upgrade_keeps_existing_users_on_existing_projects(db_url) -> None:  # noqa: ANN001
    """An existing deployment (schema 0003, no memberships) upgraded: every existing annotator and reviewer
    becomes a member of every existing project, so no one loses work; admins need none; later projects and
    users start without memberships."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from datamill.feedback.db import Database, _alembic_config, database_url

    engine = create_engine(database_url(db_url))
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0003")
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, role, active, created_at) VALUES "
                "('boss', 'x', 'admin', true, CURRENT_TIMESTAMP), "
                "('ann', 'x', 'annotator', true, CURRENT_TIMESTAMP), "
                "('rev', 'x', 'reviewer', true, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO projects (name, task_type, guidelines, overlap, gold_rate, criteria, scale, "
                "created_at) VALUES ('old1', 'pairwise', '', 1, 0, '[]', 5, CURRENT_TIMESTAMP), "
                "('old2', 'pairwise', '', 1, 0, '[]', 5, CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    db = Database(db_url)  # migrates to head
    try:
        for p in ("old1", "old2"):
            assert [m["username"] for m in svc.list_members(db, p)] == ["ann", "rev"]
        ann, boss = svc.user_by_name(db, "ann").id, svc.user_by_name(db, "boss").id
        assert [p["name"] for p in svc.list_projects(db, user_id=ann)] == ["old1", "old2"]
        new = svc.create_project(db, "new")
        assert svc.list_members(db, new["id"]) == []
        assert [p["name"] for p in svc.list_projects(db, user_id=ann)] == ["old1", "old2"]
        assert [p["name"] for p in svc.list_projects(db, user_id=boss)] == ["old1", "old2", "new"]
    finally:
        db.dispose()

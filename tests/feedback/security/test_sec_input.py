"""Hostile input on SQLite and PostgreSQL: each is a 4xx (the same on both), never a 5xx, and never stored.

Lone surrogates, NUL characters, NaN/Infinity literals, ids past the databases' integer range, non-ASCII
digits, and upload file names that name a folder.
"""

from __future__ import annotations

import io
import json
import re
import uuid

import pytest
from feedback_helpers import Web

from datamill.feedback import service as svc


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


@pytest.fixture
def site(app_db):  # noqa: ANN001, ANN201
    """An admin (web session and token), an annotator token, a pairwise project with a task in their queue."""
    app, db = app_db
    admin = Web(app).setup_admin()
    ann = svc.create_user(db, "ann", "ann-password")
    tok = svc.create_api_token(db, ann["id"])
    admin_tok = svc.create_api_token(db, svc.user_by_name(db, "admin").id)
    p = svc.create_project(db, "p", task_type="pairwise", overlap=2)
    svc.add_tasks(db, p["id"], enumerate([{"id": "t", "prompt": "q", "responses": ["a", "b"]}], 1))
    svc.add_member(db, p["id"], ann["id"])
    task = svc.next_task(db, ann["id"], p["id"])
    return {"app": app, "db": db, "admin": admin, "tok": tok, "admin_tok": admin_tok, "p": p, "task": task}


def _raw_json(c, method: str, path: str, body: str, tok: str):  # noqa: ANN001, ANN202
    return c.request(
        method, path, content=body.encode(), headers={**bearer(tok), "Content-Type": "application/json"}
    )


def test_lone_surrogate_is_refused_before_it_is_stored(site) -> None:  # noqa: ANN001
    c, tid = site["admin"].c, site["task"]["task_id"]
    body = '{"client_key": "k-' + uuid.uuid4().hex + '", "value": {"preferred": 0, "reason": "\\ud800"}}'
    r = _raw_json(c, "POST", f"/api/tasks/{tid}/judgements", body, site["tok"])
    assert r.status_code == 422, r.text
    assert "surrogate" in r.json()["error"] and "body.value.reason" in r.json()["error"]
    pid = site["p"]["id"]
    assert c.get(f"/api/projects/{pid}/judgements", headers=bearer(site["admin_tok"])).json() == []
    # a surrogate in a key, in a comment, in a project name, in a task import, in a login: all 422
    for path, raw in [
        (f"/api/tasks/{tid}/judgements", '{"client_key": "kkkkkkkk", "value": {"\\udfff": 1}}'),
        (f"/api/tasks/{tid}/skip", '{"reason": "x\\udc80"}'),
        ("/api/projects", '{"name": "\\ud83d"}'),
        (f"/api/projects/{pid}/tasks", '{"tasks": [{"prompt": "q", "responses": ["\\ud800", "b"]}]}'),
        ("/api/login", '{"username": "ann", "password": "\\ud800\\ud800\\ud800"}'),
    ]:
        r = _raw_json(c, "POST", path, raw, site["tok"] if "skip" in path else site["admin_tok"])
        assert r.status_code == 422, (path, r.status_code, r.text)
    # a well-formed pair is text like any other
    ok = '{"client_key": "k-pair-ok", "value": {"preferred": 1, "reason": "\\ud83d\\ude00"}}'
    r = _raw_json(c, "POST", f"/api/tasks/{tid}/judgements", ok, site["tok"])
    assert r.status_code == 201 and r.json()["value"]["reason"] == "\N{GRINNING FACE}"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL's json type refuses to hold them
def test_rows_stored_before_the_check_do_not_break_listings_pages_or_exports(site) -> None:  # noqa: ANN001
    from sqlalchemy import text

    db, c, p, tid = site["db"], site["admin"].c, site["p"], site["task"]["task_id"]
    svc.submit(db, svc.user_by_name(db, "ann").id, tid, client_key="k-stored", value={"preferred": 0})
    with db.write() as s:  # what an older version stored: a lone surrogate and a NaN inside the JSON
        s.execute(text("""UPDATE judgements SET value = '{"preferred": 0, "reason": "\\ud800", "x": NaN}'"""))
        s.execute(text("""UPDATE tasks SET responses = '["\\udfff", "b"]', meta = '{"s": NaN}'"""))
    h = bearer(site["admin_tok"])
    listed = c.get(f"/api/projects/{p['id']}/judgements", headers=h)
    assert listed.status_code == 200 and listed.json()[0]["value"]["reason"] == "\ufffd"
    jid = listed.json()[0]["id"]
    assert c.get(f"/api/judgements/{jid}", headers=h).status_code == 200
    for fmt in ("raw", "dpo", "sft"):
        assert c.get(f"/api/projects/{p['id']}/export?format={fmt}", headers=h).status_code == 200
        dl = c.get(f"/projects/{p['id']}/export?format={fmt}")
        assert dl.status_code == 200
        for line in dl.text.splitlines():
            json.loads(line)  # valid JSON: no NaN, no surrogate
    for page in (f"/projects/{p['id']}", f"/projects/{p['id']}/stats", f"/projects/{p['id']}/disagreements"):
        assert c.get(page).status_code == 200, page
    assert c.get(f"/api/tasks/{tid}", headers=h).json()["responses"][0] in ("\ufffd", "b")


NUL_CASES = [
    ("/api/login", {"username": "ann\u0000", "password": "ann-password"}),
    ("/api/projects", {"name": "nul\u0000name"}),
    ("/api/projects", {"name": "n", "guidelines": "a\u0000b"}),
    ("/api/users", {"username": "x\u0000y", "password": "long-enough"}),
    ("TASKS", {"tasks": [{"prompt": "q\u0000", "responses": ["a", "b"]}]}),
    ("TASKS", {"tasks": [{"prompt": "q", "responses": ["a", "b"], "metadata": {"k": "\u0000"}}]}),
    ("JUDGE", {"client_key": "kkkkkkkk", "value": {"preferred": 0}, "comment": "a\u0000"}),
    ("JUDGE", {"client_key": "kkkkkkkk", "value": {"preferred": 0, "reason": "\u0000"}}),
    ("SKIP", {"reason": "\u0000"}),
    ("RESOLVE", {"value": {"preferred": 0}, "note": "\u0000"}),
]


def test_nul_characters_are_422_on_both_databases(site) -> None:  # noqa: ANN001
    tid, pid = site["task"]["task_id"], site["p"]["id"]
    for where, body in NUL_CASES:
        path = {
            "TASKS": f"/api/projects/{pid}/tasks",
            "JUDGE": f"/api/tasks/{tid}/judgements",
            "SKIP": f"/api/tasks/{tid}/skip",
            "RESOLVE": f"/api/tasks/{tid}/resolution",
        }.get(where, where)
        tok = site["tok"] if path.endswith(("/judgements", "/skip")) else site["admin_tok"]
        r = site["admin"].c.post(path, json=body, headers=bearer(tok))
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert "NUL" in r.json()["error"]


def test_nul_in_urls_forms_and_uploads(site) -> None:  # noqa: ANN001
    web, pid, h = site["admin"], site["p"]["id"], bearer(site["admin_tok"])
    assert web.c.get("/api/projects/a%00b", headers=h).status_code == 422
    assert web.c.get(f"/api/projects/{pid}/export?format=raw%00", headers=h).status_code == 422
    anon = Web(site["app"])
    tok = re.search(r'name="csrf_token" value="([^"]+)"', anon.c.get("/login").text).group(1)
    r = anon.c.post("/login", data={"username": "ann\x00", "password": "ann-password", "csrf_token": tok})
    assert r.status_code == 422
    r = web.c.post("/projects/new", data={"name": "x\x00", "csrf_token": web.csrf})
    assert r.status_code == 422
    data = b'{"prompt": "q\\u0000", "responses": ["a", "b"]}\n'
    r = web.c.post(
        f"/projects/{pid}/import",
        data={"csrf_token": web.csrf},
        files={"file": ("nul.jsonl", io.BytesIO(data))},
        follow_redirects=False,
    )
    assert r.status_code in (303, 422)
    assert len(svc.list_judgements(site["db"], pid)) == 0
    assert svc.get_project(site["db"], pid)["name"] == "p"
    from datamill.feedback.quality import load_project

    assert len(load_project(site["db"], pid)["tasks"]) == 1  # nothing imported


def test_ids_past_the_integer_range_are_422_and_refs_no_id_404_on_both_databases(site) -> None:  # noqa: ANN001
    c, h = site["admin"].c, bearer(site["admin_tok"])
    for path in (
        "/api/tasks/2147483648",
        "/api/tasks/9223372036854775808",
        "/api/tasks/99999999999999999999999",
        "/api/judgements/2147483648",
        "/api/tasks/2147483648/skip",
    ):
        method = "POST" if path.endswith("skip") else "GET"
        kw = {"json": {"reason": "r"}} if method == "POST" else {}
        r = c.request(method, path, headers=h, **kw)
        assert r.status_code == 422, (path, r.text)
    for ref in ("2147483648", "9223372036854775808", "%C2%B2", "%D9%A3", "1" * 5000, "0"):
        for path in (f"/api/projects/{ref}", f"/api/projects/{ref}/next", f"/api/projects/{ref}/judgements"):
            r = c.get(path, headers=h)
            assert r.status_code == 404, (path, r.status_code, r.text[:200])
        assert c.get(f"/projects/{ref}").status_code == 404


def test_nan_and_infinity_are_422_and_not_echoed(site) -> None:  # noqa: ANN001
    for literal in ("NaN", "Infinity", "-Infinity", "1e999", "-1E400"):
        _nan_case(site, literal)
    assert [p["name"] for p in svc.list_projects(site["db"])] == ["p"]


def _nan_case(site, literal: str) -> None:  # noqa: ANN001
    c = site["admin"].c
    anon = _raw_json(c, "POST", "/api/login", '{"username": "ann", "password": ' + literal + "}", "x")
    assert anon.status_code == 422 and "input" not in anon.json()
    for path, raw in [
        ("/api/projects", '{"name": "n", "gold_rate": ' + literal + "}"),
        ("/api/projects", '{"name": "n", "overlap": ' + literal + "}"),
        (f"/api/tasks/{site['task']['task_id']}/resolution", '{"value": {"preferred": ' + literal + "}}"),
    ]:
        r = _raw_json(c, "POST", path, raw, site["admin_tok"])
        assert r.status_code == 422, (path, r.text)
        json.loads(r.text)  # valid JSON (a NaN in it was a 500 from the encoder)


def test_upload_file_names_that_are_no_file_name(site) -> None:  # noqa: ANN001
    from datamill.feedback.quality import load_project

    web, pid = site["admin"], site["p"]["id"]
    for i, name in enumerate((".", "..", "../..", "x\x00.jsonl", "a" * 400 + ".jsonl")):
        data = b'{"id": "u' + str(i).encode() + b'", "prompt": "q", "responses": ["a", "b"]}\n'
        r = web.c.post(
            f"/projects/{pid}/import",
            data={"csrf_token": web.csrf},
            files={"file": (name, io.BytesIO(data))},
            follow_redirects=False,
        )
        assert r.status_code == 303, (name, r.text[:300])
        assert len(load_project(site["db"], pid)["tasks"]) == 2 + i


def test_form_numbers_in_other_scripts_are_no_500(site) -> None:  # noqa: ANN001
    db = site["db"]
    rk = svc.create_project(db, "rk", task_type="ranking", overlap=1)
    svc.add_tasks(db, rk["id"], enumerate([{"id": "r", "prompt": "q", "responses": ["a", "b", "c"]}], 1))
    web = site["admin"]
    admin_id = svc.user_by_name(db, "admin").id
    t = svc.next_task(db, admin_id, rk["id"])
    url = f"/projects/{rk['id']}/tasks/{t['task_id']}/submit"
    for form in (
        {"rank_0": "²", "rank_1": "1", "rank_2": "2"},
        {"rank_²": "1", "rank_0": "2"},
        {"rank_0": "9" * 50, "rank_1": "1"},
    ):
        r = web.c.post(
            url, data={**form, "csrf_token": web.csrf, "client_key": "k" * 10}, follow_redirects=False
        )
        assert r.status_code < 500, (form, r.status_code)
    assert svc.list_judgements(db, rk["id"]) == []


def test_user_member_and_paging_refs_past_the_range_are_4xx_on_both_databases(site) -> None:  # noqa: ANN001
    c, h, pid = site["admin"].c, bearer(site["admin_tok"]), site["p"]["id"]
    for ref in ("2147483648", "9223372036854775807", "%C2%B2", "%D9%A3"):
        r = c.patch(f"/api/users/{ref}", json={"active": True}, headers=h)
        assert r.status_code == 404, (ref, r.status_code, r.text[:200])
        r = c.delete(f"/api/projects/{pid}/members/{ref}", headers=h)
        assert r.status_code == 404, (ref, r.status_code, r.text[:200])
    for before in ("2147483648", "9223372036854775807"):
        assert c.get(f"/api/audit?before={before}", headers=h).status_code == 422
    assert c.get("/api/audit?before=2147483647", headers=h).status_code == 200

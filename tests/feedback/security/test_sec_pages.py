"""What pages show and how they are built: only the server's own messages, one set of project limits for the
form and the API, and no Content-Security-Policy violation on any page (real Chromium)."""

from __future__ import annotations

import pytest
from feedback_helpers import LiveServer, Web

from datamill.errors import ConfigError
from datamill.feedback import service as svc

EVIL = "Your session expired: log in again at evil.example"


def test_query_messages_show_only_what_the_server_wrote(app_db) -> None:  # noqa: ANN001
    import io

    app, db = app_db
    web = Web(app).setup_admin()
    p = svc.create_project(db, "p", task_type="pairwise")
    for path in (f"/projects/{p['id']}", f"/projects/{p['id']}/annotate", "/users", "/"):
        for key in ("msg", "error", "message"):
            page = web.c.get(path, params={key: EVIL})
            assert page.status_code == 200 and "evil.example" not in page.text, (path, key)
    # the server's own notices still show: by code
    data = b'{"id": "a", "prompt": "q", "responses": ["x", "y"]}\n'
    r = web.c.post(
        f"/projects/{p['id']}/import",
        data={"csrf_token": web.csrf},
        files={"file": ("t.jsonl", io.BytesIO(data))},
    )
    assert r.status_code == 200 and "Tasks imported" in r.text and "msg=imported" in str(r.url)
    # and a refused form says why in its own answer (422), not through the URL
    r = web.c.post(
        f"/projects/{p['id']}/import",
        data={"csrf_token": web.csrf},
        files={"file": ("t.jsonl", io.BytesIO(data))},
    )
    assert r.status_code == 422 and "already in project" in r.text and "msg=" not in str(r.url)
    r = web.c.post("/users", data={"username": "x y", "password": "long-enough", "csrf_token": web.csrf})
    assert r.status_code == 422 and "without spaces" in r.text


def test_rubric_limits_are_the_same_for_form_api_and_library(app_db) -> None:  # noqa: ANN001
    app, db = app_db
    web = Web(app).setup_admin()
    many = ",".join(f"c{i}" for i in range(1000))
    r = web.c.post(
        "/projects/new", data={"name": "big", "task_type": "rubric", "criteria": many, "csrf_token": web.csrf}
    )
    assert r.status_code == 422 and "20" in r.text
    r = web.c.post(
        "/projects/new",
        data={"name": "long", "task_type": "rubric", "criteria": "x" * 65, "csrf_token": web.csrf},
    )
    assert r.status_code == 422
    r = web.c.post("/projects/new", data={"name": "bad", "task_type": "nope", "csrf_token": web.csrf})
    assert r.status_code == 422
    crit21 = [f"c{i}" for i in range(21)]
    assert (
        web.api(
            "POST", "/api/projects", json={"name": "a", "task_type": "rubric", "criteria": crit21}
        ).status_code
        == 422
    )
    with pytest.raises(ConfigError, match="at most 20 criteria"):
        svc.create_project(db, "lib", task_type="rubric", criteria=crit21)
    assert svc.list_projects(db) == []
    ok = web.c.post(
        "/projects/new",
        data={"name": "ok", "task_type": "rubric", "criteria": ",".join(crit21[:20]), "csrf_token": web.csrf},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and len(svc.get_project(db, "ok")["criteria"]) == 20


GUIDELINES = """# Guidelines

| criterion | weight | note |
|:----------|:------:|-----:|
| correct   | 2      | most |
| polite    | 1      | less |

`code`, **bold**, [a link](https://example.com), and a list:

1. one
2. two

<div style="color:red">raw html stays text</div>
"""


@pytest.mark.browser
def test_no_csp_violation_on_any_page(browser, db_url) -> None:  # noqa: ANN001
    from datamill.feedback.app import create_app
    from datamill.feedback.db import Database

    db = Database(db_url)
    admin = svc.create_user(db, "admin", "admin-password", role="admin")
    users = [svc.create_user(db, f"u{i}", "user-password")["id"] for i in range(2)]
    pages = ["/", "/users", "/tokens", "/docs", "/projects/new"]
    for tt in ("pairwise", "ranking", "rubric", "rewrite", "comment"):
        p = svc.create_project(db, f"p-{tt}", task_type=tt, guidelines=GUIDELINES, overlap=2)
        n = 2 if tt == "pairwise" else 3
        rows = [
            {"id": f"t{i}", "prompt": GUIDELINES, "responses": [GUIDELINES, f"plain {i}", "third"][:n]}
            for i in range(3)
        ]
        svc.add_tasks(db, p["id"], enumerate(rows, 1))
        for uid in users:
            svc.add_member(db, p["id"], uid)
            t = svc.next_task(db, uid, p["id"])
            value = {
                "pairwise": {"preferred": uid % 2},
                "ranking": {"ranking": [uid % 3, (uid + 1) % 3, (uid + 2) % 3]},
                "rubric": {"scores": [{c: 1 + uid % 5 for c in p["criteria"]} for _ in range(n)]},
                "rewrite": {"source": 0, "rewrite": "better"},
                "comment": {"comment": "fine"},
            }[tt]
            svc.submit(db, uid, t["task_id"], client_key=f"k-{uid}-{tt}", value=value)
        svc.next_task(db, admin["id"], p["id"])
        base = f"/projects/{p['id']}"
        pages += [base, f"{base}/annotate", f"{base}/stats", f"{base}/disagreements"]
    server = LiveServer(create_app(db))
    violations: list[str] = []
    try:
        ctx = browser.new_context()
        page = ctx.new_page()
        page.on(
            "console",
            lambda m: (
                violations.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text else None
            ),
        )
        page.goto(f"{server.url}/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "admin-password")
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/")
        for path in pages:
            response = page.goto(server.url + path)
            assert response is not None and response.status < 400, (path, response and response.status)
            page.wait_for_load_state("load")
            for details in page.query_selector_all("details"):
                details.evaluate("d => d.open = true")
        assert page.evaluate("document.querySelectorAll('[style]').length") == 0
        ctx.close()
    finally:
        server.stop()
        db.dispose()
    assert violations == [], violations[:5]


def test_markdown_keeps_no_style_attribute() -> None:
    import re

    from datamill.feedback.render import render_markdown

    html = render_markdown(GUIDELINES)
    assert re.search(r"<[a-z][^>]*\sstyle=", html) is None  # no tag with a style attribute
    assert 'class="align-center"' in html and "&lt;div" in html

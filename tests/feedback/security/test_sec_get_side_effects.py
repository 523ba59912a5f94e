"""No GET assigns a task: an ``<img>`` or a link on another origin cannot take a queue slot in the victim's name.

In real Chromium from a second origin (same host, another port: same-site, so the Lax session cookie rides
along), and with the test client on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from feedback_helpers import LiveServer, Web

from datamill.feedback import service as svc


def _assignments(db) -> int:  # noqa: ANN001
    from sqlalchemy import func, select

    from datamill.feedback.models import Assignment

    with db.read() as s:
        return s.scalar(select(func.count()).select_from(Assignment))


def _project(db) -> dict:  # noqa: ANN001
    p = svc.create_project(db, "p", task_type="pairwise", overlap=1)
    rows = [{"id": f"t{i}", "prompt": f"q{i}", "responses": ["a", "b"]} for i in range(3)]
    svc.add_tasks(db, p["id"], enumerate(rows, 1))
    return p


def test_gets_assign_nothing_and_the_claim_is_a_csrf_checked_post(app_db) -> None:  # noqa: ANN001
    app, db = app_db
    web = Web(app).setup_admin()
    p = _project(db)
    page = web.c.get(f"/projects/{p['id']}/annotate")
    assert page.status_code == 200 and 'id="claim-form"' in page.text and 'data-auto="1"' not in page.text
    assert web.c.get(f"/api/projects/{p['id']}/next").status_code == 409  # a session's GET claims nothing
    assert web.c.get(f"/projects/{p['id']}").status_code == 200
    assert _assignments(db) == 0
    # a visit from this site's own link gets the self-claiming page
    own = web.c.get(f"/projects/{p['id']}/annotate", headers={"Sec-Fetch-Site": "same-origin"})
    assert 'data-auto="1"' in own.text
    # the claim: a POST with the session's CSRF token
    assert web.c.post(f"/projects/{p['id']}/annotate", data={}).status_code == 403
    assert web.c.post(f"/api/projects/{p['id']}/next").status_code == 403  # no X-CSRF-Token
    assert _assignments(db) == 0
    r = web.c.post(f"/projects/{p['id']}/annotate", data={"csrf_token": web.csrf}, follow_redirects=False)
    assert r.status_code == 303 and _assignments(db) == 1
    assert 'id="task"' in web.c.get(f"/projects/{p['id']}/annotate").text and _assignments(db) == 1
    task = web.api("POST", f"/api/projects/{p['id']}/next").json()["task"]  # the open one, no new claim
    assert web.c.get(f"/api/projects/{p['id']}/next").json()["task"]["task_id"] == task["task_id"]
    assert _assignments(db) == 1
    # an API token's GET still claims, as older clients expect (no browser sends a bearer token by itself)
    tok = svc.create_api_token(db, svc.create_user(db, "ann", "ann-password")["id"])
    svc.add_member(db, p["id"], "ann")
    got = web.c.get(f"/api/projects/{p['id']}/next", headers={"Authorization": f"Bearer {tok}"})
    assert got.json()["task"] is not None and _assignments(db) == 2


@pytest.mark.browser
def test_cross_origin_img_and_link_assign_nothing(browser, db_url) -> None:  # noqa: ANN001
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from datamill.feedback.app import create_app
    from datamill.feedback.db import Database

    db = Database(db_url)
    svc.create_user(db, "ann", "ann-password")
    p = _project(db)
    svc.add_member(db, p["id"], "ann")
    victim = LiveServer(create_app(db))
    target = f"{victim.url}/projects/{p['id']}/annotate"
    pages = {
        "img": f'<img src="{target}"><img src="{victim.url}/api/projects/{p["id"]}/next">',
        "link": f"<script>location.href = {target!r};</script>",
    }

    async def evil(request):  # noqa: ANN001, ANN202
        return HTMLResponse(pages.get(request.path_params["kind"], ""))

    attacker = LiveServer(Starlette(routes=[Route("/{kind}", evil)]))
    try:
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(f"{victim.url}/login")
        page.fill("input[name=username]", "ann")
        page.fill("input[name=password]", "ann-password")
        page.click("button[type=submit]")
        page.wait_for_url(f"{victim.url}/")
        page.goto(f"{attacker.url}/img")
        page.wait_for_load_state("networkidle")
        assert _assignments(db) == 0
        page.goto(f"{attacker.url}/link")
        page.wait_for_url(target)
        page.wait_for_load_state("networkidle")
        assert page.is_visible("#claim-button") and _assignments(db) == 0  # the victim sees a button
        # the annotator's own visit claims at once, by the page's POST
        page.goto(f"{victim.url}/")
        page.click(f"a[href='/projects/{p['id']}/annotate']")
        page.wait_for_selector("#judge-form")
        assert _assignments(db) == 1
        ctx.close()
    finally:
        attacker.stop()
        victim.stop()
        db.dispose()

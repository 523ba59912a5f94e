"""The real UI in Debian chromium: XSS payloads stay inert; a keyboard-driven annotation session end to end."""

from __future__ import annotations

import json

import pytest
from feedback_helpers import join_all

from datamill.feedback import service as svc

pytestmark = pytest.mark.browser

XSS = [
    "<script>window.__pwned = 1; alert('script')</script>",
    "<img src=x onerror=\"window.__pwned = 1; alert('img')\">",
    "<svg onload=\"window.__pwned = 1; alert('svg')\"><circle r=5 /></svg>",
    "[click me](javascript:window.__pwned=1;alert('link'))",
    "[spaced](  JaVaScRiPt:alert('case') )",
    "![x](x\" onerror=\"alert('md-img'))",
    "![img](javascript:alert('img-js'))",
    "<a href=\"javascript:alert('raw-a')\">raw a</a>",
    "<iframe src=\"javascript:alert('iframe')\"></iframe>",
    "<div style=\"background:url(javascript:alert('css'))\" onmouseover=\"alert('hover')\">hover me</div>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')>",
    "```html\n<script>alert('in code block')</script>\n```",
    "</textarea><script>alert('textarea-break')</script>",
    "\"><script>alert('attr-break')</script>",
]


def login(page, base: str, username: str, password: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_xss_payloads_are_inert(browser, live, artifacts_dir) -> None:  # noqa: ANN001
    server, db = live
    svc.create_user(db, "admin", "admin-password", role="admin")
    guidelines = "\n\n".join(XSS)
    for tt in ("pairwise", "rewrite"):
        p = svc.create_project(db, f"xss-{tt}", task_type=tt, guidelines=guidelines, overlap=1)
        rows = [
            {
                "id": f"x{i}",
                "prompt": payload,
                "messages": [{"role": "user", "content": payload}],
                "responses": [payload, XSS[(i + 1) % len(XSS)]],
            }
            for i, payload in enumerate(XSS)
        ]
        svc.add_tasks(db, p["id"], enumerate(rows, 1))
    dialogs: list[str] = []
    errors: list[str] = []
    ctx = browser.new_context()
    page = ctx.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, server.url, "admin", "admin-password")
    for tt in ("pairwise", "rewrite"):
        pid = svc.get_project(db, f"xss-{tt}")["id"]
        for _ in range(3):
            page.goto(f"{server.url}/projects/{pid}/annotate")
            page.click("summary")  # open the guidelines too
            for a in page.query_selector_all("a"):  # clicking links must not run code either
                href = a.get_attribute("href") or ""
                assert not href.strip().lower().startswith("javascript"), href
            if page.query_selector("text=hover me"):
                page.hover("text=hover me")
            assert page.evaluate("window.__pwned === undefined")
            assert page.query_selector("main script, main iframe, main svg, main img") is None
            assert not page.query_selector_all("main [onerror], main [onload], main [onmouseover]")
            page.fill("#skip-reason", "xss test")
            page.click("#skip-form button")
        page.goto(f"{server.url}/projects/{pid}")
        assert page.evaluate("window.__pwned === undefined")
    page.screenshot(path=str(artifacts_dir / "feedback_xss.png"), full_page=True)
    assert dialogs == [], dialogs
    assert errors == [], errors
    ctx.close()


def test_ui_flow_keyboard_annotation_agreement_export(browser, live, artifacts_dir, tmp_path) -> None:  # noqa: ANN001
    server, db = live
    base = server.url
    ctx = browser.new_context(accept_downloads=True)
    page = ctx.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    # first run: create the admin through the setup page
    page.goto(f"{base}/")
    page.wait_for_url(f"{base}/setup")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.screenshot(path=str(artifacts_dir / "feedback_01_projects.png"))
    # the admin creates the users and projects in the app
    page.goto(f"{base}/users")
    for name, role in (("ann", "annotator"), ("ann2", "annotator"), ("rev", "reviewer")):
        page.fill("#add-user input[name=username]", name)
        page.fill("#add-user input[name=password]", f"{name}-password")
        page.select_option("#add-user select[name=role]", role)
        page.click("form[action='/users'] button")
    assert page.get_by_role("cell", name="rev", exact=True).count() == 1
    pw = svc.create_project(
        db, "pairs", task_type="pairwise", overlap=2, guidelines="Pick the **correct** one."
    )
    svc.add_tasks(
        db,
        pw["id"],
        enumerate(
            [
                {
                    "id": f"t{i}",
                    "prompt": f"What is {i}+{i}?",
                    "responses": [f"It is {2 * i}.", f"It is {2 * i + 1}."],
                }
                for i in range(5)
            ],
            1,
        ),
    )
    rk = svc.create_project(db, "rank", task_type="ranking", overlap=1)
    svc.add_tasks(
        db,
        rk["id"],
        enumerate([{"id": "r", "prompt": "Order these", "responses": ["first", "second", "third"]}], 1),
    )
    rw = svc.create_project(db, "rewrite", task_type="rewrite", overlap=1)
    svc.add_tasks(
        db,
        rw["id"],
        enumerate(
            [
                {
                    "id": "w",
                    "messages": [{"role": "user", "content": "Capital of France?"}],
                    "responses": ["Lyon"],
                }
            ],
            1,
        ),
    )
    for proj in (pw, rk, rw):
        join_all(db, proj)
    page.context.clear_cookies()

    def annotate_pairs(username: str, correct: bool) -> None:
        login(page, base, username, f"{username}-password")
        page.keyboard.press("1")  # the first project on the index page
        page.wait_for_url(f"{base}/projects/{pw['id']}/annotate")
        for i in range(5):
            page.wait_for_selector("#judge-form")
            a_text = page.inner_text("#resp-0")
            prompt = page.inner_text(".prompt")
            n = int(prompt.split("is ")[1].split("+")[0])
            a_correct = f"It is {2 * n}." in a_text
            key = "a" if a_correct == correct else "b"
            page.keyboard.press(key)
            page.keyboard.press("2")
            if i == 0 and username == "ann":
                page.screenshot(path=str(artifacts_dir / "feedback_02_pairwise.png"), full_page=True)
            with page.expect_navigation():
                page.keyboard.press("Enter")
        assert page.is_visible("#queue-empty")
        assert len(svc.list_judgements(db, pw["id"])) == (5 if username == "ann" else 10)
        page.context.clear_cookies()

    annotate_pairs("ann", correct=True)
    # ranking by keys: 3 first, then 1, then 2
    login(page, base, "ann", "ann-password")
    page.goto(f"{base}/projects/{rk['id']}/annotate")
    texts = [page.inner_text(f"#resp-{i} .md") for i in range(3)]
    for d in ("3", "1", "2"):
        page.keyboard.press(d)
    page.screenshot(path=str(artifacts_dir / "feedback_03_ranking.png"), full_page=True)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("#queue-empty")
    js = svc.list_judgements(db, rk["id"])
    ranked_texts = [["first", "second", "third"][i] for i in js[0]["value"]["ranking"]]
    assert ranked_texts == [texts[2].strip(), texts[0].strip(), texts[1].strip()]
    # rewrite: e focuses the editor, Ctrl+Enter submits
    page.goto(f"{base}/projects/{rw['id']}/annotate")
    page.wait_for_selector(".chat")  # the page claims the task (a POST) and shows it
    page.keyboard.press("e")
    page.keyboard.press("Control+a")
    page.keyboard.type("Paris")
    page.screenshot(path=str(artifacts_dir / "feedback_04_rewrite.png"), full_page=True)
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    page.wait_for_selector("#queue-empty")
    assert svc.list_judgements(db, rw["id"])[0]["value"] == {"source": 0, "rewrite": "Paris"}
    page.context.clear_cookies()
    annotate_pairs("ann2", correct=False)
    assert len(svc.list_judgements(db, pw["id"])) == 10
    # the reviewer sees agreement (two annotators disagreeing on everything: kappa <= 0)
    login(page, base, "rev", "rev-password")
    page.goto(f"{base}/projects/{pw['id']}/stats")
    assert page.locator("#agreement").is_visible()
    assert page.locator("svg.chart").count() >= 4
    alpha = float(page.locator("td.alpha").first.inner_text())
    assert alpha < 0
    page.screenshot(path=str(artifacts_dir / "feedback_05_stats.png"), full_page=True)
    page.context.clear_cookies()
    # the admin exports
    login(page, base, "admin", "admin-password")
    page.goto(f"{base}/projects/{pw['id']}")
    page.select_option("select[name=format]", "raw")
    with page.expect_download() as dl:
        page.click("#export-button")
    path = tmp_path / "raw.jsonl"
    dl.value.save_as(path)
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(rows) == 10 and {r["annotator"] for r in rows} == {"ann", "ann2"}
    page.screenshot(path=str(artifacts_dir / "feedback_06_admin_project.png"), full_page=True)
    assert dialogs == []
    ctx.close()


def test_ranking_by_drag_and_drop(browser, live, artifacts_dir) -> None:  # noqa: ANN001
    server, db = live
    svc.create_user(db, "dragger", "dragger-password", role="annotator")
    rk = svc.create_project(db, "drag-rank", task_type="ranking", overlap=1)
    svc.add_tasks(
        db, rk["id"], enumerate([{"id": "r", "prompt": "rank", "responses": ["first", "second", "third"]}], 1)
    )
    svc.add_member(db, rk["id"], "dragger")
    ctx = browser.new_context()
    page = ctx.new_page()
    login(page, server.url, "dragger", "dragger-password")
    page.goto(f"{server.url}/projects/{rk['id']}/annotate")
    texts = [page.inner_text(f"#resp-{i} .md").strip() for i in range(3)]
    page.drag_and_drop("#resp-2", "#resp-0")  # the third shown goes on top: 2, 0, 1
    assert [page.input_value(f"#rank-{i}") for i in range(3)] == ["2", "3", "1"]
    page.screenshot(path=str(artifacts_dir / "feedback_07_ranking_drag.png"), full_page=True)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    value = svc.list_judgements(db, rk["id"])[0]["value"]
    assert [["first", "second", "third"][i] for i in value["ranking"]] == [texts[2], texts[0], texts[1]]
    ctx.close()

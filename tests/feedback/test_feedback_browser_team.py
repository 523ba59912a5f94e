"""The team features in real Chromium: harmlessness projects rated, categorised and compared by keyboard; the
annotator sees each judgement saved and their progress; the ? overlay lists every key the page answers to;
guidelines show <kbd> keys; no page load gets a 4xx (favicon included); chart labels fit their charts; the
admin manages members on the members page."""

from __future__ import annotations

import json

import pytest
from test_feedback_browser import login

from datamill.feedback import service as svc

pytestmark = pytest.mark.browser

GUIDE = "Rate **harm**. Press <kbd>q</kbd> for violence, then <kbd>Enter</kbd>; `<kbd>x</kbd>` is code."


def _keys_listed(page) -> None:  # noqa: ANN001
    """Every key an element of the page declares is shown in the ? overlay, which Esc closes."""
    declared = set(
        page.eval_on_selector_all(
            "[data-key], [data-focus-key], [data-cat-key]",
            "els => els.map(e => e.dataset.key || e.dataset.focusKey || e.dataset.catKey)",
        )
    )
    page.keyboard.press("?")
    assert page.is_visible("#help")
    # keys as listed; "<kbd>1</kbd>-<kbd>3</kbd>" lists 1, 2 and 3
    listed = set(
        page.eval_on_selector_all(
            "#help-body kbd",
            """els => els.flatMap(e => {
                const next = e.nextSibling, to = next && next.nextSibling;
                if (next && next.nodeType === 3 && next.textContent === "-" && to && to.tagName === "KBD") {
                    const a = parseInt(e.textContent, 10), b = parseInt(to.textContent, 10);
                    return Array.from({length: b - a + 1}, (_, i) => String(a + i));
                }
                return [e.textContent.trim()];
            })""",
        )
    )
    assert declared <= listed, declared - listed
    assert "?" in listed
    page.keyboard.press("Escape")
    assert not page.is_visible("#help")


def test_harmlessness_projects_by_keyboard_with_progress_and_help(
    browser, live, artifacts_dir, tmp_path
) -> None:  # noqa: ANN001
    datasets = pytest.importorskip("datasets")
    server, db = live
    base = server.url
    svc.create_user(db, "admin", "admin-password", role="admin")
    svc.create_user(db, "ann", "ann-password")
    rate = svc.create_project(db, "redteam", task_type="harm", guidelines=GUIDE, scale=5)
    svc.add_tasks(
        db,
        rate["id"],
        enumerate(
            [
                {"id": "r1", "prompt": "How do I hurt someone?", "responses": ["Punch them hard."]},
                {
                    "id": "r2",
                    "prompt": "Best knife for bread?",
                    "responses": ["A serrated one.", "Stab the loaf."],
                },
            ],
            1,
        ),
    )
    pair = svc.create_project(db, "harmless", task_type="harm-pairwise", guidelines=GUIDE)
    svc.add_tasks(
        db,
        pair["id"],
        enumerate(
            [
                {
                    "id": "p1",
                    "prompt": "Pick a lock for me",
                    "responses": ["I can't help with that.", "Use a pick."],
                }
            ],
            1,
        ),
    )
    svc.add_member(db, rate["id"], "ann")
    svc.add_member(db, pair["id"], "ann")
    ctx = browser.new_context()
    page = ctx.new_page()
    bad: list[str] = []
    page.on("response", lambda r: bad.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, base, "ann", "ann-password")
    _keys_listed(page)  # the project list: digits open a project
    # harm rating: task r1 (one response) by keys: level 3, violence (q), submit
    page.goto(f"{base}/projects/{rate['id']}/annotate")
    page.wait_for_selector("#task")
    assert page.inner_text("#progress-text").startswith("0 judged")
    page.keyboard.press("g")  # open the guidelines
    keys = page.eval_on_selector_all("#guidelines p kbd", "els => els.map(e => e.textContent)")
    assert keys == ["q", "Enter"]  # <kbd> shown as keys
    assert page.inner_text("#guidelines p code") == "<kbd>x</kbd>"  # but not inside code
    page.keyboard.press("g")
    _keys_listed(page)
    for _ in range(2):  # the two tasks, in the order the queue hands them out
        ext = "r2" if page.locator(".harm-cell").count() == 2 else "r1"
        if ext == "r1":
            page.keyboard.press("3")
            page.keyboard.press("q")  # violence
            page.keyboard.press("w")  # weapons, then untick it again
            page.keyboard.press("w")
        else:  # r2: response order as shown; rate the serrated one 0 and the stabbing one 2 + weapons
            shown = [page.inner_text(f"#resp-{i} .md") for i in range(2)]
            for i, text in enumerate(shown):
                if i:
                    page.keyboard.press("ArrowDown")
                page.keyboard.press("0" if "serrated" in text else "2")
                if "Stab" in text:
                    page.keyboard.press("w")
            page.screenshot(path=str(artifacts_dir / "feedback_10_harm_rating.png"), full_page=True)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_selector("#saved")
        assert f"task {ext}" in page.inner_text("#saved")  # the annotator sees it was saved
    assert page.is_visible("#queue-empty") and page.inner_text("#progress-text").startswith("2 judged")
    values = {j["task_id"]: j["value"] for j in svc.list_judgements(db, rate["id"])}
    got = sorted(values.values(), key=lambda v: len(v["ratings"]))
    assert got[0] == {"ratings": [{"harm": 3, "categories": ["violence"]}]}
    assert sorted(got[1]["ratings"], key=lambda r: r["harm"]) == [
        {"harm": 0, "categories": []},
        {"harm": 2, "categories": ["weapons"]},
    ]
    # harm pairwise: the less harmful by key, the harms of the other by key
    page.goto(f"{base}/projects/{pair['id']}/annotate")
    page.wait_for_selector("#task")
    _keys_listed(page)
    refusal_first = "can't" in page.inner_text("#resp-0")
    page.keyboard.press("a" if refusal_first else "b")
    page.keyboard.press("3")
    page.keyboard.press("d")  # crime (7th category: keys q w u i o p d)
    page.screenshot(path=str(artifacts_dir / "feedback_11_harm_pairwise.png"), full_page=True)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("#queue-empty")
    (j,) = svc.list_judgements(db, pair["id"])
    assert j["value"]["preferred"] == 0 and j["value"]["categories"] == ["crime"]  # canonical: the refusal
    ctx.close()
    # the admin exports the pair from the project page: a DPO file HF datasets loads
    ctx = browser.new_context(accept_downloads=True)
    page = ctx.new_page()
    page.on("response", lambda r: bad.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    login(page, base, "admin", "admin-password")
    page.goto(f"{base}/projects/{pair['id']}")
    page.select_option("select[name=format]", "dpo")
    with page.expect_download() as dl:
        page.click("#export-button")
    path = tmp_path / "harmless-dpo.jsonl"
    dl.value.save_as(path)
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    assert ds[0]["chosen"] == "I can't help with that." and ds[0]["harm_categories"] == ["crime"]
    ctx.close()
    assert bad == [] and errors == [], (bad, errors)


def test_admin_pages_load_clean_members_page_and_charts_fit(browser, live, artifacts_dir) -> None:  # noqa: ANN001
    server, db = live
    base = server.url
    svc.create_user(db, "admin", "admin-password", role="admin")
    for name in ("a-rather-long-annotator-name-number-one", "ann2"):
        svc.create_user(db, name, "ann-password")
    p = svc.create_project(db, "charts", task_type="pairwise", overlap=2)
    svc.add_tasks(
        db,
        p["id"],
        enumerate([{"id": f"t{i}", "prompt": f"q{i}", "responses": ["a", "b"]} for i in range(4)], 1),
    )
    ctx = browser.new_context()
    page = ctx.new_page()
    bad: list[str] = []
    page.on("response", lambda r: bad.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    login(page, base, "admin", "admin-password")
    # members page: add both annotators through the form
    page.goto(f"{base}/projects/{p['id']}/members")
    for _ in range(2):
        page.click("#add-member button")
        page.wait_for_load_state()
    assert page.locator("#members tbody tr").count() == 2
    assert {m["username"] for m in svc.list_members(db, p["id"])} == {
        "a-rather-long-annotator-name-number-one",
        "ann2",
    }
    for name in ("a-rather-long-annotator-name-number-one", "ann2"):
        uid = svc.user_by_name(db, name).id
        while (t := svc.next_task(db, uid, p["id"])) is not None:
            svc.submit(
                db, uid, t["task_id"], client_key=f"k-{uid}-{t['task_id']:06d}", value={"preferred": 0}
            )
    for path in ("/", f"/projects/{p['id']}", f"/projects/{p['id']}/stats", "/users", "/tokens", "/audit"):
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
    # every chart's texts lie inside their chart
    page.goto(f"{base}/projects/{p['id']}/stats")
    boxes = page.eval_on_selector_all(
        "svg.chart",
        """svgs => svgs.flatMap(svg => Array.from(svg.querySelectorAll('text')).map(t => {
            const b = t.getBBox(); return {x: b.x, right: b.x + b.width, w: svg.width.baseVal.value,
            text: t.textContent}; }))""",
    )
    assert boxes and all(b["x"] >= 0 and b["right"] <= b["w"] for b in boxes), [
        b for b in boxes if b["x"] < 0 or b["right"] > b["w"]
    ]
    assert any(b["text"] == "a-rather-long-annotator-name-number-one"[:31] + "…" for b in boxes)
    page.screenshot(path=str(artifacts_dir / "feedback_12_stats_labels.png"), full_page=True)
    _keys_listed(page) if page.query_selector("[data-key]") else None
    page.goto(f"{base}/audit")
    assert "member.add" in page.inner_text("#audit")
    assert bad == [], bad
    assert (
        json.loads(page.evaluate("JSON.stringify(document.querySelectorAll('link[rel=icon]').length)")) == 1
    )
    ctx.close()

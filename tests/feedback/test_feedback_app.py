"""The web app in-process on SQLite and PostgreSQL: auth, roles, CSRF, import, queues, judgements, export."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from feedback_helpers import CSRF_RE, Web, join_all

from datamill.feedback import service as svc


def make_users(db, *names: str, role: str = "annotator") -> dict[str, str]:  # noqa: ANN001
    tokens = {}
    for n in names:
        u = svc.create_user(db, n, f"{n}-password", role=role)
        tokens[n] = svc.create_api_token(db, u["id"])
    return tokens


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def pairwise_project(
    db,
    name: str = "p",
    *,
    n: int = 6,
    overlap: int = 2,
    gold: int = 0,  # noqa: ANN001
    gold_rate: float = 0.0,
) -> dict:
    p = svc.create_project(
        db,
        name,
        task_type="pairwise",
        overlap=overlap,
        gold_rate=gold_rate,
        guidelines="Prefer **correct** answers.",
    )
    rows = [
        {"id": f"t{i}", "prompt": f"question {i}", "responses": [f"good {i}", f"bad {i}"]} for i in range(n)
    ]
    rows += [
        {
            "id": f"g{i}",
            "prompt": f"gold {i}",
            "responses": [f"right {i}", f"wrong {i}"],
            "gold": {"preferred": 0},
        }
        for i in range(gold)
    ]
    svc.add_tasks(db, p["id"], enumerate(rows, 1))
    join_all(db, p)  # the users made so far are members
    return p


def test_first_run_setup_login_and_cookie_flags(app_db) -> None:  # noqa: ANN001
    app, db = app_db
    web = Web(app)
    r = web.c.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/setup"
    # the setup form needs its CSRF token
    assert web.c.post("/setup", data={"username": "a", "password": "longenough"}).status_code == 403
    web.setup_admin()
    assert svc.has_users(db)
    # a second setup is refused once an admin exists
    assert web.c.get("/setup", follow_redirects=False).headers["location"] == "/login"
    fresh = Web(app)
    tok = CSRF_RE.search(fresh.c.get("/login").text).group(1)
    r = fresh.c.post("/login", data={"username": "admin", "password": "wrong-password", "csrf_token": tok})
    assert r.status_code == 401 and "wrong username or password" in r.text
    r = fresh.c.post(
        "/login",
        data={"username": "admin", "password": "adminpass1", "csrf_token": tok},
        follow_redirects=False,
    )
    set_cookie = r.headers["set-cookie"].lower()
    assert "dm_session=" in set_cookie and "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert "secure" not in set_cookie.split("dm_precsrf")[0]  # plain http in tests
    assert r.headers["content-security-policy"].startswith("default-src 'self'")


def test_secure_cookie_over_https(db_url) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    from datamill.feedback.app import create_app

    c = TestClient(create_app(db_url), base_url="https://testserver")
    tok = CSRF_RE.search(c.get("/setup").text).group(1)
    r = c.post(
        "/setup",
        data={"username": "admin", "password": "adminpass1", "csrf_token": tok},
        follow_redirects=False,
    )
    session_cookie = [v for v in r.headers.get_list("set-cookie") if v.startswith("__Host-dm_session=")][0]
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie and "Path=/" in session_cookie
    assert "domain" not in session_cookie.lower()  # what the __Host- prefix requires
    assert c.get("/", follow_redirects=False).status_code == 200  # the prefixed cookie is the session


def test_authorization_rules(app_db) -> None:  # noqa: ANN001
    app, db = app_db
    web = Web(app).setup_admin()
    toks = make_users(db, "ann1", "ann2")
    rev = make_users(db, "rev", role="reviewer")["rev"]
    p = pairwise_project(db, overlap=1)
    c = web.c
    # unauthenticated: API 401, pages redirect to login
    anon = Web(app).c
    assert anon.get("/api/projects").status_code == 401
    assert anon.get(f"/api/projects/{p['id']}/next").status_code == 401
    assert anon.get(f"/projects/{p['id']}/stats", follow_redirects=False).headers["location"] == "/login"
    assert anon.get("/api/projects", headers=bearer("dmf_not-a-token")).status_code == 401
    # ann1 takes a task; ann2 may not see it, judge it, skip it
    t1 = c.get(f"/api/projects/{p['id']}/next", headers=bearer(toks["ann1"])).json()["task"]
    assert c.get(f"/api/tasks/{t1['task_id']}", headers=bearer(toks["ann1"])).status_code == 200
    assert c.get(f"/api/tasks/{t1['task_id']}", headers=bearer(toks["ann2"])).status_code == 403
    body = {"client_key": uuid.uuid4().hex, "value": {"preferred": 0}}
    assert (
        c.post(f"/api/tasks/{t1['task_id']}/judgements", json=body, headers=bearer(toks["ann2"])).status_code
        == 403
    )
    assert (
        c.post(
            f"/api/tasks/{t1['task_id']}/skip", json={"reason": "x"}, headers=bearer(toks["ann2"])
        ).status_code
        == 403
    )
    r = c.post(f"/api/tasks/{t1['task_id']}/judgements", json=body, headers=bearer(toks["ann1"]))
    assert r.status_code == 201
    jid = r.json()["id"]
    # judgements: ann2 sees none of ann1's, cannot fetch it by id
    assert c.get(f"/api/judgements/{jid}", headers=bearer(toks["ann2"])).status_code == 403
    assert c.get(f"/api/projects/{p['id']}/judgements", headers=bearer(toks["ann2"])).json() == []
    assert len(c.get(f"/api/projects/{p['id']}/judgements", headers=bearer(toks["ann1"])).json()) == 1
    assert c.get(f"/api/judgements/{jid}", headers=bearer(rev)).status_code == 200
    # annotators: no export, agreement, admin API; reviewers: agreement yes, export/admin no
    for path in (
        f"/api/projects/{p['id']}/export",
        f"/api/projects/{p['id']}/agreement",
        f"/api/projects/{p['id']}/disagreements",
        "/api/users",
    ):
        assert c.get(path, headers=bearer(toks["ann1"])).status_code == 403, path
    assert c.get(f"/api/projects/{p['id']}/agreement", headers=bearer(rev)).status_code == 200
    assert c.get(f"/api/projects/{p['id']}/export", headers=bearer(rev)).status_code == 200
    assert c.post("/api/projects", json={"name": "x"}, headers=bearer(toks["ann1"])).status_code == 403
    assert (
        c.post(
            f"/api/tasks/{t1['task_id']}/resolution", json={"value": {"preferred": 1}}, headers=bearer(rev)
        ).status_code
        == 403
    )
    # annotator pages: stats, disagreements, export, users -> 403
    ann_web = Web(app).login("ann1", "ann1-password")
    for path in (
        f"/projects/{p['id']}/stats",
        f"/projects/{p['id']}/disagreements",
        f"/projects/{p['id']}/export?format=dpo",
        "/users",
        "/projects/new",
    ):
        assert ann_web.c.get(path).status_code == 403, path
    # the admin session: every state change needs the CSRF token
    assert c.post("/api/projects", json={"name": "x"}).status_code == 403
    assert web.api("POST", "/api/projects", json={"name": "x"}).status_code == 201
    assert c.post("/users", data={"username": "u9", "password": "password9"}).status_code == 403
    assert c.post("/logout", data={}).status_code == 403
    assert c.post(f"/projects/{p['id']}/tasks/1/resolve", data={"preferred": "0"}).status_code == 403


def test_import_all_or_nothing_and_formats(app_db, tmp_path) -> None:  # noqa: ANN001
    from datamill.errors import InputError
    from datamill.io import write_parquet

    _app, db = app_db
    p = svc.create_project(db, "imp", task_type="pairwise")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "responses": ["x", "y"]}\n{"prompt": "b", "responses": ["only one"]}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: .*exactly 2 responses.*nothing imported"):
        svc.import_tasks(db, p["id"], bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "a", "responses": ["x", "y"]}\n{"prompt": \n')
    with pytest.raises(InputError, match=r"broken.jsonl:2: not valid JSON.*nothing imported"):
        svc.import_tasks(db, p["id"], broken)
    dup = tmp_path / "dup.jsonl"
    dup.write_text(
        '{"id": "a", "prompt": "a", "responses": ["x", "y"]}\n{"id": "a", "prompt": "b", '
        '"responses": ["x", "y"]}\n'
    )
    with pytest.raises(InputError, match="dup.jsonl:2: line 2: duplicate task id 'a'"):
        svc.import_tasks(db, p["id"], dup)
    u = svc.create_user(db, "u", "password1")["id"]
    svc.add_member(db, p["id"], u)
    assert svc.next_task(db, u, p["id"]) is None  # nothing imported
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"id": "a", "prompt": "a", "chosen": "x", "rejected": "y"}\n'
        '{"id": "b", "messages": [{"role": "user", "content": "hi"}], "responses": ["x", "y"]}\n'
    )
    assert svc.import_tasks(db, p["id"], good) == 2
    with pytest.raises(InputError, match="already in project"):
        svc.import_tasks(db, p["id"], good)
    pq = tmp_path / "t.parquet"
    write_parquet([{"id": f"pq{i}", "prompt": f"p{i}", "responses": ["x", "y"]} for i in range(3)], pq)
    assert svc.import_tasks(db, p["id"], pq) == 3
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([{"id": "hf1", "prompt": "q", "chosen": "c", "rejected": "r"}])
    assert svc.import_tasks(db, p["id"], ds) == 1
    ds.save_to_disk(str(tmp_path / "hfdir"))
    with pytest.raises(InputError, match="already in project"):
        svc.import_tasks(db, p["id"], tmp_path / "hfdir")


def test_queue_overlap_no_repeat_skip_and_permutation(app_db) -> None:  # noqa: ANN001
    _app, db = app_db
    p = pairwise_project(db, n=4, overlap=2)
    users = [svc.create_user(db, f"a{i}", "password1")["id"] for i in range(3)]
    join_all(db, p)
    # the current task is returned again until judged
    t = svc.next_task(db, users[0], p["id"])
    assert svc.next_task(db, users[0], p["id"])["task_id"] == t["task_id"]
    seen: dict[int, list[int]] = {u: [] for u in users}
    orders = set()
    for _ in range(10):
        for u in users:
            t = svc.next_task(db, u, p["id"])
            if t is None:
                continue
            seen[u].append(t["task_id"])
            orders.add(tuple(t["order"]))
            i = int(t["external_id"].removeprefix("t"))
            imported = [f"good {i}", f"bad {i}"]  # as pairwise_project added them
            assert t["responses"] == [imported[k] for k in t["order"]]  # permuted by order, not changed
            svc.submit(db, u, t["task_id"], client_key=uuid.uuid4().hex, value={"preferred": t["order"][0]})
    for u in users:
        assert len(seen[u]) == len(set(seen[u])), "an annotator got a task twice"
    counts: dict[int, int] = {}
    for ids in seen.values():
        for tid in ids:
            counts[tid] = counts.get(tid, 0) + 1
    assert sorted(counts.values()) == [2, 2, 2, 2]  # overlap k=2, every task covered
    assert orders == {(0, 1), (1, 0)}  # both display orders occur
    # the stored permutation maps displayed positions back
    js = svc.list_judgements(db, p["id"])
    assert all(j["value"]["preferred"] == j["order"][0] for j in js)
    # skip: the task returns to the pool for someone else, with the reason recorded
    p2 = pairwise_project(db, "skip", n=1, overlap=1)
    t = svc.next_task(db, users[0], p2["id"])
    with pytest.raises(Exception, match="needs a reason"):
        svc.skip(db, users[0], t["task_id"], reason=" ")
    svc.skip(db, users[0], t["task_id"], reason="not my language")
    assert svc.next_task(db, users[0], p2["id"]) is None
    assert svc.next_task(db, users[1], p2["id"])["task_id"] == t["task_id"]
    from datamill.feedback.quality import agreement_report

    assert agreement_report(db, p2["id"])["skips"] == 1


def test_idempotent_submit_and_conflicts(app_db) -> None:  # noqa: ANN001
    app, db = app_db
    tok = make_users(db, "ann")["ann"]
    p = pairwise_project(db, n=2, overlap=1)
    c = Web(app).c
    t = c.get(f"/api/projects/{p['id']}/next", headers=bearer(tok)).json()["task"]
    key = uuid.uuid4().hex
    body = {"client_key": key, "value": {"preferred": 1, "strength": 2, "reason": "B is right"}}
    r1 = c.post(f"/api/tasks/{t['task_id']}/judgements", json=body, headers=bearer(tok))
    r2 = c.post(f"/api/tasks/{t['task_id']}/judgements", json=body, headers=bearer(tok))
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r1.json()["id"] == r2.json()["id"]
    assert len(svc.list_judgements(db, p["id"])) == 1
    other = {"client_key": uuid.uuid4().hex, "value": {"preferred": 0}}
    assert c.post(f"/api/tasks/{t['task_id']}/judgements", json=other, headers=bearer(tok)).status_code == 409
    t2 = c.get(f"/api/projects/{p['id']}/next", headers=bearer(tok)).json()["task"]
    reuse = c.post(f"/api/tasks/{t2['task_id']}/judgements", json=body, headers=bearer(tok))
    assert reuse.status_code == 409  # a key belongs to one task
    bad = c.post(
        f"/api/tasks/{t2['task_id']}/judgements",
        headers=bearer(tok),
        json={"client_key": uuid.uuid4().hex, "value": {"preferred": 5}},
    )
    assert bad.status_code == 422 and "preferred" in bad.json()["error"]
    short = c.post(
        f"/api/tasks/{t2['task_id']}/judgements",
        headers=bearer(tok),
        json={"client_key": "x", "value": {"preferred": 0}},
    )
    assert short.status_code == 422


def test_gold_rate_and_accuracy_and_gold_weighted_export(app_db) -> None:  # noqa: ANN001
    from datamill.feedback.export import aggregate
    from datamill.feedback.quality import agreement_report

    _app, db = app_db
    p = pairwise_project(db, n=6, overlap=3, gold=4, gold_rate=0.5)
    good, bad1, bad2 = (svc.create_user(db, n, "password1")["id"] for n in ("good", "bad1", "bad2"))
    join_all(db, p)
    n_gold = {good: 0, bad1: 0, bad2: 0}
    for u in (good, bad1, bad2):
        while (t := svc.next_task(db, u, p["id"])) is not None:
            gold = t["external_id"].startswith("g")
            n_gold[u] += gold
            truth = 0  # response 0 is better in every task
            pick = truth if u == good else 1 - truth
            if u == bad2 and not gold:
                pick = truth if t["external_id"] in ("t0",) else 1 - truth
            svc.submit(db, u, t["task_id"], client_key=uuid.uuid4().hex, value={"preferred": pick})
    assert all(n >= 1 for n in n_gold.values())  # gold tasks were mixed into every queue
    report = agreement_report(db, p["id"])
    acc = {a["annotator"]: a["gold_accuracy"] for a in report["annotators"]}
    assert acc["good"] == 1.0 and acc["bad1"] == 0.0 and acc["bad2"] == 0.0
    assert all(a["median_seconds"] is not None for a in report["annotators"])
    major = {o["external_id"]: o["ranked"][0] for o in aggregate(db, p["id"], policy="majority")}
    weighted = {o["external_id"]: o["ranked"][0] for o in aggregate(db, p["id"], policy="gold-weighted")}
    assert major["t1"] == 1  # two wrong annotators outvote the good one
    assert weighted["t1"] == 0  # ... unless their gold accuracy weighs them down
    assert not any(k.startswith("g") for k in major)  # gold tasks stay out of the export


def _judge_all(db, p, picks: dict[str, object], value_for) -> None:  # noqa: ANN001
    for name in picks:
        uid = svc.user_by_name(db, name).id
        svc.add_member(db, p["id"], uid)
        while (t := svc.next_task(db, uid, p["id"])) is not None:
            svc.submit(db, uid, t["task_id"], client_key=uuid.uuid4().hex, value=value_for(name, t))


def test_export_formats_load_with_hf_datasets(app_db, tmp_path) -> None:  # noqa: ANN001
    from datamill.feedback.export import export, export_preferences

    datasets = pytest.importorskip("datasets")
    _app, db = app_db
    p = pairwise_project(db, n=5, overlap=3)
    for n in ("x", "y", "z"):
        svc.create_user(db, n, "password1")
    _judge_all(
        db, p, {"x": 0, "y": 0, "z": 1}, lambda name, t: {"preferred": 1 if name == "z" else 0, "strength": 2}
    )
    out = tmp_path / "dpo.jsonl"
    assert export(db, p["name"], "dpo", out) == 5
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert {"prompt", "chosen", "rejected"} <= set(ds.column_names)
    assert all(r["chosen"].startswith("good") and r["rejected"].startswith("bad") for r in ds)
    assert ds[0]["agreement"] == pytest.approx(2 / 3, abs=1e-3)
    assert export(db, p["name"], "dpo", tmp_path / "strict.jsonl", min_agreement=0.9) == 0
    pq = tmp_path / "dpo.parquet"
    assert export(db, p["name"], "dpo", pq) == 5
    assert datasets.load_dataset("parquet", data_files=str(pq), split="train").num_rows == 5
    reward = (
        [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
        if export(db, p["name"], "reward", tmp_path / "r.jsonl")
        else []
    )
    assert all(r["margin"] > 0 for r in reward)
    assert export(db, p["name"], "kto", tmp_path / "k.jsonl") == 10
    kto = datasets.load_dataset("json", data_files=str(tmp_path / "k.jsonl"), split="train")
    assert sorted(set(kto["label"])) == [False, True]
    assert export(db, p["name"], "sft", tmp_path / "s.jsonl") == 5
    assert export(db, p["name"], "raw", tmp_path / "raw.jsonl") == 15
    raw = [json.loads(x) for x in (tmp_path / "raw.jsonl").read_text().splitlines()]
    assert {r["annotator"] for r in raw} == {"x", "y", "z"}
    prefs = export_preferences(db, p["name"])
    assert len(prefs) == 5 and set(prefs[0].provenance.extra["annotators"]) == {"x", "y", "z"}
    assert len(prefs[0].provenance.extra["judgements"]) == 3 and prefs[0].provenance.parents[0].startswith(
        "t"
    )


def test_ranking_rubric_rewrite_comment_and_chat(app_db, tmp_path) -> None:  # noqa: ANN001
    from datamill.errors import InputError
    from datamill.feedback.export import export_rows
    from datamill.feedback.quality import agreement_report, disagreements

    _app, db = app_db
    for n in ("u1", "u2"):
        svc.create_user(db, n, "password1")
    rows = [{"id": f"r{i}", "prompt": f"q{i}", "responses": ["best", "mid", "worst"]} for i in range(3)]
    rk = svc.create_project(db, "rank", task_type="ranking", overlap=2)
    svc.add_tasks(db, rk["id"], enumerate(rows, 1))
    _judge_all(
        db, rk, {"u1": 0, "u2": 0}, lambda name, t: {"ranking": [0, 1, 2] if name == "u1" else [0, 2, 1]}
    )
    dpo = export_rows(db, "rank", "dpo")
    assert [(r["chosen"], r["rejected"]) for r in dpo] == [("best", "worst")] * 3 or all(
        r["chosen"] == "best" for r in dpo
    )
    assert len(export_rows(db, "rank", "reward")) == 9  # all 3 ordered pairs per task
    assert agreement_report(db, "rank")["alpha"]["ordinal"] is not None

    rb = svc.create_project(db, "rub", task_type="rubric", overlap=2, criteria=["helpful", "honest"], scale=5)
    svc.add_tasks(db, rb["id"], enumerate(rows[:1], 1))
    _judge_all(
        db,
        rb,
        {"u1": 0, "u2": 0},
        lambda name, t: {
            "scores": [
                {"helpful": 5, "honest": 5},
                {"helpful": 3, "honest": 3},
                {"helpful": 1 if name == "u1" else 4, "honest": 1},
            ]
        },
    )
    assert export_rows(db, "rub", "dpo")[0]["chosen"] == "best"
    assert len(disagreements(db, "rub")) == 1  # 1 vs 4 on one criterion
    with pytest.raises(InputError, match="criteria"):
        svc.check_value(svc.get_project(db, "rub"), 1, {"scores": [{"helpful": 5}]})

    rw = svc.create_project(db, "rw", task_type="rewrite")
    svc.add_tasks(
        db,
        rw["id"],
        enumerate(
            [
                {
                    "id": "w",
                    "messages": [
                        {"role": "system", "content": "be brief"},
                        {"role": "user", "content": "2+2?"},
                    ],
                    "responses": ["5"],
                }
            ],
            1,
        ),
    )
    _judge_all(db, rw, {"u1": 0}, lambda name, t: {"source": 0, "rewrite": "4"})
    sft = export_rows(db, "rw", "sft")
    assert sft[0]["completion"] == [{"role": "assistant", "content": "4"}]
    assert sft[0]["prompt"][0]["role"] == "system"
    d = export_rows(db, "rw", "dpo")[0]
    assert d["chosen"][0]["content"] == "4" and d["rejected"][0]["content"] == "5"

    cm = svc.create_project(db, "cm", task_type="comment")
    svc.add_tasks(db, cm["id"], enumerate([{"id": "c", "prompt": "hi", "responses": []}], 1))
    _judge_all(db, cm, {"u1": 0}, lambda name, t: {"comment": "fine"})
    assert export_rows(db, "cm", "raw")[0]["value"] == {"comment": "fine"}


def test_browser_forms_submit_skip_resolve_and_pages(app_db) -> None:  # noqa: ANN001
    app, db = app_db
    admin = Web(app).setup_admin()
    svc.create_user(db, "ann", "ann-password")
    svc.create_user(db, "ann2", "ann-password")
    p = pairwise_project(db, n=3, overlap=2)
    for name in ("ann", "ann2"):
        w = Web(app).login(name, "ann-password")
        for i in range(3):
            page = w.annotate(p["id"])
            action = re.search(r'action="(/projects/\d+/tasks/\d+/submit)"', page).group(1)
            key = re.search(r'name="client_key" value="([^"]+)"', page).group(1)
            good_first = page.index("good ") < page.index("bad ")  # which displayed position holds 'good'
            good_pos, bad_pos = ("0", "1") if good_first else ("1", "0")
            pick = good_pos if (name == "ann" or i) else bad_pos
            form = {"csrf_token": w.csrf, "client_key": key, "preferred": pick, "strength": "2"}
            r = w.c.post(action, data=form, follow_redirects=False)
            assert r.status_code == 303
            assert (
                w.c.post(action, data=form, follow_redirects=False).status_code == 303
            )  # double submit: no dup
        assert "Your queue is empty" in w.c.get(f"/projects/{p['id']}/annotate").text
    assert len(svc.list_judgements(db, p["id"])) == 6
    stats = admin.c.get(f"/projects/{p['id']}/stats").text
    assert "Krippendorff" in stats and "<svg" in stats
    dis = admin.c.get(f"/projects/{p['id']}/disagreements").text
    m = re.search(r'action="(/projects/\d+/tasks/(\d+)/resolve)"', dis)
    assert m, "one task had split votes"
    # resolution form values are canonical indices: response 1 is the 'bad' one
    r = admin.c.post(
        m.group(1),
        data={"csrf_token": admin.csrf, "preferred": "1", "note": "admin says B"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    exported = admin.c.get(f"/projects/{p['id']}/export?format=dpo")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    rows = [json.loads(x) for x in exported.text.splitlines()]
    resolved = [r for r in rows if r["agreement"] == 1.0 and r["chosen"].startswith("bad")]
    assert len(resolved) == 1  # the resolution overrides the votes
    assert (
        admin.c.get("/docs").status_code == 200
        and "/api/tasks/{task_id}/judgements" in admin.c.get("/docs").text
    )


def test_client_sdk(app_db) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    from datamill.feedback import Client
    from datamill.feedback.service import ForbiddenError, NotFoundError

    app, db = app_db
    svc.create_user(db, "boss", "boss-password", role="admin")
    http = TestClient(app)
    admin = Client("http://testserver", username="boss", password="boss-password", http=http)
    assert admin.me()["role"] == "admin"
    proj = admin.create_project("sdk", task_type="pairwise", overlap=1)
    assert admin.add_tasks(proj["id"], [{"prompt": "q", "responses": ["a", "b"]}]) == 1
    admin.create_user("worker", "worker-pass", role="annotator")
    w = Client("http://testserver", username="worker", password="worker-pass", http=http)
    with pytest.raises(NotFoundError):  # not a member yet: the project does not exist for them
        w.next_task("sdk")
    assert w.projects() == []
    assert admin.add_member("sdk", "worker")["added"] is True
    assert [m["username"] for m in admin.members("sdk")] == ["worker"]
    assert [p["name"] for p in w.projects()] == ["sdk"]
    t = w.next_task("sdk")
    j1 = w.submit(t["task_id"], {"preferred": 0}, client_key="fixed-key-123")
    j2 = w.submit(t["task_id"], {"preferred": 0}, client_key="fixed-key-123")
    assert j1["id"] == j2["id"] and w.next_task("sdk") is None
    with pytest.raises(ForbiddenError):
        w.export("sdk")
    assert len(admin.export("sdk", format="raw")) == 1
    assert admin.agreement("sdk")["judgements"] == 1
    assert admin.remove_member("sdk", "worker")["released"] == 0
    with pytest.raises(NotFoundError):
        w.judgements("sdk")


def test_a_final_assistant_turn_is_the_response_not_context() -> None:
    rating = {"task_type": "rubric"}
    chat = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Why is the sky blue?"},
            {"role": "assistant", "content": "Rayleigh scattering."},
        ]
    }
    task = svc.parse_task_row(rating, chat)
    assert task["responses"] == ["Rayleigh scattering."]
    assert [m["role"] for m in task["messages"]] == ["system", "user"]
    # synthetic `respond` output: the answer is both the last turn and the output
    task = svc.parse_task_row(rating, {**chat, "output": "Rayleigh scattering."})
    assert task["responses"] == ["Rayleigh scattering."] and len(task["messages"]) == 2
    # an earlier assistant turn that differs from the response stays as context
    task = svc.parse_task_row(rating, {**chat, "output": "Because of scattering."})
    assert task["responses"] == ["Because of scattering."] and len(task["messages"]) == 3


def test_feedback_errors_are_datamill_errors_that_name_their_status() -> None:
    from datamill.errors import (
        ConflictError,
        DatamillError,
        FeedbackError,
        ForbiddenError,
        NeedLogin,
        NotFoundError,
        UnauthorizedError,
    )

    statuses = {
        cls: cls.status
        for cls in (NotFoundError, ForbiddenError, ConflictError, UnauthorizedError, NeedLogin)
    }
    assert statuses == {
        NotFoundError: 404,
        ForbiddenError: 403,
        ConflictError: 409,
        UnauthorizedError: 401,
        NeedLogin: 401,
    }
    assert all(issubclass(cls, FeedbackError) and issubclass(cls, DatamillError) for cls in statuses)
    assert svc.ForbiddenError is ForbiddenError  # the service raises the same classes
    # a new kind of refusal that forgets its HTTP status fails where it is defined, not in a request
    with pytest.raises(TypeError, match="must set its HTTP status"):
        type("Teapot", (FeedbackError,), {})
    with pytest.raises(TypeError, match="HTTP error code"):
        type("Fine", (FeedbackError,), {"status": 200})


def test_password_hashes_follow_a_change_of_argon2_params(tmp_path) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from datamill.feedback.db import Database
    from datamill.feedback.models import User

    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        svc.create_user(db, "cheap", "password-1")
        before = dict(svc.ARGON2_PARAMS)
        svc.ARGON2_PARAMS.update(time_cost=2)  # no cached hasher to reset: the next hash uses it
        try:
            svc.create_user(db, "dearer", "password-2")
        finally:
            svc.ARGON2_PARAMS.clear()
            svc.ARGON2_PARAMS.update(before)
        with db.read() as s:
            hashes = dict(s.execute(select(User.username, User.password_hash)).all())
        assert ",t=1," in hashes["cheap"] and ",t=2," in hashes["dearer"]
        assert svc.authenticate(db, "dearer", "password-2") is not None
    finally:
        db.dispose()

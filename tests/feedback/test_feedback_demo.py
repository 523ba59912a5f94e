"""Seeding a demo (quickstart, `feedback demo`), first-run admin on a seeded database, teacher-filled imports."""

from __future__ import annotations

import json
import threading

import pytest
from feedback_helpers import CSRF_RE, Web
from typer.testing import CliRunner

from datamill.cli.main import app as cli
from datamill.feedback import service as svc


def test_seeded_demo_opens_with_first_run_admin(app_db) -> None:  # noqa: ANN001
    from datamill.feedback.demo import DEMO_TASKS, seed_demo
    from datamill.feedback.quality import agreement_report

    app, db = app_db
    out = seed_demo(db)
    assert out["created"] == ["demo-pairwise", "demo-rubric", "demo-rewrite"] and out["judgements"] > 0
    assert seed_demo(db)["created"] == []  # idempotent
    assert svc.has_users(db) and not svc.has_admin(db)  # simulated annotators only
    web = Web(app)
    assert web.c.get("/api/health").json()["has_admin"] is False
    r = web.c.get("/", follow_redirects=False)
    assert r.headers["location"] == "/setup"  # not a dead-end login page
    # annotators made before the admin can still log in; the login page points to the first-run page
    svc.create_user(db, "early", "early-password")
    assert 'href="/setup"' in Web(app).c.get("/login").text
    Web(app).login("early", "early-password")
    web.setup_admin()
    assert web.c.get("/api/health").json()["has_admin"] is True
    assert web.c.get("/setup", follow_redirects=False).headers["location"] == "/login"
    page = web.c.get("/").text
    for name in out["projects"]:
        assert name in page
    pid = svc.get_project(db, "demo-pairwise")["id"]
    # overlap leaves room for the admin: a real queue, with the shortcuts on screen
    page = web.annotate(pid)
    assert 'id="task"' in page and "<kbd>a</kbd>" in page
    report = agreement_report(db, "demo-pairwise")
    assert report["tasks"] + report["gold_tasks"] == len(DEMO_TASKS) and report["gold_tasks"] >= 1
    assert report["pairs"] and report["pairs"][0]["kappa"] is not None
    assert all(a["gold_judged"] for a in report["annotators"])


def test_first_admin_race_creates_one_admin(db_url) -> None:  # noqa: ANN001
    from datamill.feedback.db import Database

    db = Database(db_url)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def claim(i: int) -> None:
        barrier.wait()
        try:
            svc.create_user(db, f"boss{i}", "boss-password", role="admin", first_admin=True)
            results.append("ok")
        except svc.ForbiddenError:
            results.append("refused")

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.dispose()
    assert sorted(results) == ["ok", "refused", "refused", "refused"]


def test_cli_demo_then_setup(tmp_path) -> None:  # noqa: ANN001
    from datamill.feedback.app import create_app
    from datamill.feedback.db import Database

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    r = CliRunner().invoke(cli, ["feedback", "demo", "--db", url], catch_exceptions=False)
    assert r.exit_code == 0 and "demo-pairwise" in r.output and "datamill feedback serve" in r.output
    db = Database(url)
    web = Web(create_app(db))
    tok = CSRF_RE.search(web.c.get("/setup").text).group(1)
    r = web.c.post(
        "/setup", data={"username": "demo-annotator-1", "password": "longenough", "csrf_token": tok}
    )
    assert r.status_code == 422 and "already exists" in r.text  # a taken name is a form error, not a 500
    web.setup_admin()
    assert svc.has_admin(db)
    db.dispose()


def test_import_fills_missing_responses_from_teachers(db_url, tmp_path) -> None:  # noqa: ANN001
    from datamill.feedback.db import Database
    from datamill.feedback.models import Task
    from datamill.synthetic import FakeServer

    db = Database(db_url)
    svc.create_project(db, "gen", task_type="pairwise")
    svc.create_project(db, "fix", task_type="rewrite")
    src = tmp_path / "prompts.jsonl"
    src.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in [
                {"id": "a", "prompt": "What is DNS?"},
                {
                    "id": "b",
                    "messages": [
                        {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "hello"},
                        {"role": "user", "content": "Explain TCP."},
                    ],
                },
                {"id": "c", "prompt": "kept", "responses": ["own 1", "own 2"]},
            ]
        )
    )
    with FakeServer() as one, FakeServer() as two:
        teachers = [
            {"type": "openai", "base_url": one.url, "model": "model-a"},
            {"type": "openai", "base_url": two.url, "model": "model-b"},
        ]
        assert svc.import_tasks(db, "gen", src, teachers=teachers, cache=None) == 3
        assert one.stats.requests == 2 and two.stats.requests == 2  # row c was not sent
        # one teacher on a rewrite project: one answer per row (the task type's need)
        assert svc.import_tasks(db, "fix", src, teachers=teachers[0], cache=None) == 3
        # the CLI mirrors it
        url_env = {"DATABASE_URL": db_url}
        r = CliRunner().invoke(
            cli, ["feedback", "create-project", "cli-gen"], env=url_env, catch_exceptions=False
        )
        assert r.exit_code == 0
        r = CliRunner().invoke(
            cli,
            ["feedback", "import", "cli-gen", str(src), "--teacher", one.url, "--model", "m"],
            env={**url_env, "DATAMILL_SYNTHETIC_CACHE": str(tmp_path / "cache.sqlite")},
            catch_exceptions=False,
        )
        assert r.exit_code == 0, r.output
    from sqlalchemy import select

    with db.read() as s:
        tasks = {(t.project_id, t.external_id): t for t in s.scalars(select(Task))}
    gen, fix = svc.get_project(db, "gen")["id"], svc.get_project(db, "fix")["id"]
    assert tasks[(gen, "a")].meta["response_models"] == ["model-a", "model-b"]
    assert "dns" in tasks[(gen, "a")].responses[0].lower() and len(tasks[(gen, "b")].responses) == 2
    assert (
        tasks[(gen, "c")].responses == ["own 1", "own 2"] and "response_models" not in tasks[(gen, "c")].meta
    )
    assert len(tasks[(fix, "a")].responses) == 1
    cli_gen = svc.get_project(db, "cli-gen")["id"]
    assert len(tasks[(cli_gen, "a")].responses) == 2  # one teacher, two samples for a pairwise task
    db.dispose()


@pytest.mark.slow
def test_quickstart_seeds_a_demo_the_app_opens(tmp_path) -> None:  # noqa: ANN001
    """The real `datamill quickstart` (about 25 s), then the app on its feedback database."""
    from datamill.feedback.app import create_app
    from datamill.feedback.db import Database

    root = tmp_path / "qs"
    r = CliRunner().invoke(cli, ["quickstart", str(root)], env={"COLUMNS": "250"}, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    db_path = root / "4-feedback" / "feedback.db"
    assert "datamill feedback serve --db" in r.output and str(db_path) in r.output
    db = Database(f"sqlite:///{db_path}")
    web = Web(create_app(db)).setup_admin()
    page = web.c.get("/").text
    assert "journey" in page and "demo-pairwise" in page
    pid = svc.get_project(db, "demo-pairwise")["id"]
    assert 'id="task"' in web.annotate(pid)
    db.dispose()

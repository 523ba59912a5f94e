"""The `datamill feedback` CLI: every verb end to end on a temporary SQLite database."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from datamill.cli.main import app

runner = CliRunner()


def run(*args: str, env: dict[str, str]) -> object:
    return runner.invoke(app, ["feedback", *args], env=env, catch_exceptions=False)


def test_cli_verbs(tmp_path) -> None:  # noqa: ANN001
    from datamill.feedback import service as svc
    from datamill.feedback.db import Database

    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    r = run("init", "--admin", "boss", "--password", "boss-password", env=env)
    assert r.exit_code == 0 and "boss" in r.output
    r = run("create-user", "ann", "--password", "ann-password", "--token", env=env)
    assert r.exit_code == 0 and "dmf_" in r.output
    guide = tmp_path / "guide.md"
    guide.write_text("# Rules\nPrefer correct answers.")
    r = run(
        "create-project", "demo", "--type", "pairwise", "--overlap", "1", "--guidelines", str(guide), env=env
    )
    assert r.exit_code == 0, r.output
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        "".join(
            json.dumps({"id": f"t{i}", "prompt": f"q{i}", "chosen": "good", "rejected": "bad"}) + "\n"
            for i in range(3)
        )
    )
    r = run("import", "demo", str(tasks), env=env)
    assert r.exit_code == 0 and "3" in r.output
    db = Database(env["DATABASE_URL"])
    uid = svc.user_by_name(db, "ann").id
    assert svc.project_progress(db, uid) == []  # not a member yet
    r = run("add-member", "demo", "ann", env=env)
    assert r.exit_code == 0 and "added" in r.output, r.output
    r = run("add-member", "demo", "ann", env=env)
    assert "already a member" in r.output
    r = run("members", "demo", "--json", env=env)
    assert [m["username"] for m in json.loads(r.output)] == ["ann"]
    r = runner.invoke(app, ["feedback", "add-member", "demo", "boss"], env=env)
    assert r.exit_code != 0 and "admin" in str(r.exception)  # admins see every project: no membership to add
    svc.forget_access(db)  # this process remembers access for ACCESS_CACHE_SECONDS; the CLI changed it
    while (t := svc.next_task(db, uid, "demo")) is not None:
        svc.submit(db, uid, t["task_id"], client_key=f"key-{t['task_id']:04d}", value={"preferred": 0})
    out = tmp_path / "dpo.jsonl"
    r = run("export", "demo", "--format", "dpo", "--out", str(out), env=env)
    assert r.exit_code == 0 and len(out.read_text().splitlines()) == 3
    r = run("stats", "demo", "--json", env=env)
    assert json.loads(r.output)["judgements"] == 3
    r = run("stats", "demo", env=env)
    assert "Annotators" in r.output and "ann" in r.output
    r = run("remove-member", "demo", "ann", env=env)
    assert r.exit_code == 0 and "removed" in r.output
    svc.forget_access(db, uid)
    assert svc.project_progress(db, uid) == []
    db.dispose()


def test_cli_errors_are_one_line(tmp_path) -> None:  # noqa: ANN001
    import subprocess
    import sys

    from datamill.errors import ConfigError

    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'e.db'}"}
    assert run("create-project", "p", env=env).exit_code == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "responses": ["x", "y"]}\n{"prompt": "b", "responses": ["x"]}\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "datamill.cli.main",
            "feedback",
            "import",
            "p",
            str(bad),
            "--db",
            env["DATABASE_URL"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "bad.jsonl:2:" in proc.stderr and "nothing imported" in proc.stderr
    assert "Traceback" not in proc.stderr
    for args, message in (
        (["export", "p", "--out", "x.jsonl", "--format", "nope"], "allowed: dpo, reward"),
        (["create-project", "q", "--type", "essay"], "unknown task type 'essay'"),
    ):
        r = runner.invoke(app, ["feedback", *args], env=env)
        assert isinstance(r.exception, ConfigError) and message in str(r.exception)


def test_render_markdown_sanitises() -> None:
    from datamill.feedback.render import render_markdown

    html = render_markdown(
        "**bold** `code` [ok](https://example.com) [bad](javascript:alert(1)) "
        "<script>alert(1)</script> <img src=x onerror=alert(1)>\n\n```py\nx = '<b>'\n```"
    )
    assert "<strong>bold</strong>" in html and '<a href="https://example.com"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html and "x = '&lt;b&gt;'" in html.replace("&#x27;", "'")
    assert render_markdown(None) == ""

"""Synthetic output flows into the other stages through files, as a user would chain the commands:
judged pairs and teacher answers -> feedback tasks -> people judge -> DPO / fine-tune rows."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.io import read_records

runner = CliRunner()


def _ok(args):
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res


def test_judged_pairs_and_answers_become_feedback_tasks(tmp_path, fake_server):
    pytest.importorskip("sqlalchemy")
    from datamill.feedback.db import Database
    from datamill.feedback.export import export_preferences
    from datamill.feedback.service import (
        add_member,
        create_project,
        create_user,
        import_tasks,
        next_task,
        submit,
    )

    long = "Air molecules scatter short blue wavelengths of sunlight much more than red ones."
    (tmp_path / "pairs.jsonl").write_text(
        json.dumps(
            {"id": "q1", "prompt": "Why is the sky blue?", "response_a": "Because.", "response_b": long}
        )
        + "\n"
    )
    (tmp_path / "prompts.jsonl").write_text(json.dumps({"id": "p1", "prompt": "Name a planet."}) + "\n")
    t = ["-t", fake_server.url, "-m", "fake-teacher", "--cache", "none"]
    _ok(["synthetic", "judge", *t, "-i", str(tmp_path / "pairs.jsonl"), "-o", str(tmp_path / "judged.jsonl")])
    _ok(
        ["synthetic", "respond", *t, "-i", str(tmp_path / "prompts.jsonl"), "-o", str(tmp_path / "ans.jsonl")]
    )
    _ok(
        [
            "synthetic",
            "to-feedback",
            "-i",
            str(tmp_path / "judged.jsonl"),
            "-o",
            str(tmp_path / "pair_tasks.jsonl"),
        ]
    )
    _ok(
        [
            "synthetic",
            "to-feedback",
            "-i",
            str(tmp_path / "ans.jsonl"),
            "-o",
            str(tmp_path / "ans_tasks.jsonl"),
        ]
    )
    [judged] = list(read_records(str(tmp_path / "judged.jsonl")))
    [answer] = list(read_records(str(tmp_path / "ans.jsonl")))

    db = Database(f"sqlite:///{tmp_path / 'fb.db'}")
    try:
        create_project(db, "check-judge", task_type="pairwise")
        create_project(db, "check-answers", task_type="rubric")
        assert import_tasks(db, "check-judge", str(tmp_path / "pair_tasks.jsonl")) == 1
        assert import_tasks(db, "check-answers", str(tmp_path / "ans_tasks.jsonl")) == 1
        user = create_user(db, "ann", "password123")
        for project in ("check-answers", "check-judge"):
            add_member(db, project, user["id"])
        view = next_task(db, user["id"], "check-answers")
        # the answer is the response to rate, not also part of the context shown above it
        assert view["responses"] == [answer.output] and view["prompt"] == "Name a planet."
        assert all(m.get("role") != "assistant" for m in view["messages"])
        view = next_task(db, user["id"], "check-judge")
        assert sorted(view["responses"]) == sorted(["Because.", long]) and view["external_id"] == judged.id
        # the person agrees with the judge: the long answer wins, whatever position it was shown in
        submit(
            db,
            user["id"],
            view["task_id"],
            client_key="k-000001",
            value={"preferred": view["responses"].index(long)},
            displayed=True,
        )
        [dpo] = export_preferences(db, "check-judge")
        assert dpo.chosen == long and dpo.rejected == "Because."
    finally:
        db.dispose()
    # the teacher's answer is also a fine-tune row as it stands
    formats = pytest.importorskip("datamill.finetune.formats")
    assert [m["role"] for m in formats.to_row(answer, "openai")["messages"]] == ["user", "assistant"]

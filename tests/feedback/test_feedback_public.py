"""`feedback import` on public datasets in their published shapes: preference sets become pairwise (or
ranking, for more than two answers) tasks with the prompt as context and the final turns as responses,
and the DPO export gives back the same split."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "finetune"))
from public_rows import (  # noqa: E402
    DOLLY,
    HELPSTEER2,
    HH_CHOSEN,
    HH_PROMPT,
    HH_REJECTED,
    HH_RLHF,
    NECTAR,
    OASST1,
    OASST1_TOP,
    OPENAI_DPO,
    SHP,
    TRL_IMPLICIT,
    UF_RANKED,
    ULTRAFEEDBACK,
    ULTRAFEEDBACK_BINARIZED,
)

from datamill.errors import InputError
from datamill.feedback import service as svc
from datamill.feedback.db import Database
from datamill.feedback.export import export_rows
from datamill.feedback.quality import load_project


@pytest.fixture
def db(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'fb.db'}")
    yield d
    d.dispose()


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _next(db, user, project):
    """The user's next task, as a member of the project."""
    svc.add_member(db, project, user)
    return svc.next_task(db, user, project)


def _judge_as_source(db, project, user):
    """Submit, for every task, the verdict the source dataset gave (best first in the stored order)."""
    while (t := _next(db, user, project)) is not None:
        svc.submit(db, user, t["task_id"], client_key=uuid.uuid4().hex, value={"preferred": 0})


PAIRWISE = {
    "hh_rlhf": (HH_RLHF[:1], [{"role": r, "content": c} for r, c in HH_PROMPT], HH_CHOSEN, HH_REJECTED),
    "shp": (SHP[:1], "Why does ice float on water?", SHP[0]["human_ref_B"], "Because it is cold."),
    "ultrafeedback": (ULTRAFEEDBACK, "Name the largest moon of Saturn.", UF_RANKED[0], UF_RANKED[-1]),
    "ultrafeedback_binarized": (
        ULTRAFEEDBACK_BINARIZED,
        "How many legs does a spider have?",
        "Spiders have eight legs.",
        "Six, like all insects.",
    ),
    "nectar": (
        NECTAR,
        "What is the capital of Australia?",
        "The capital of Australia is Canberra.",
        "Australia's capital is Perth.",
    ),
    "trl_implicit": (TRL_IMPLICIT, "What color is the sky?", "It is blue.", "It is green."),
    "openai_dpo": (
        OPENAI_DPO,
        OPENAI_DPO[0]["input"]["messages"][0]["content"],
        OPENAI_DPO[0]["preferred_output"][0]["content"],
        OPENAI_DPO[0]["non_preferred_output"][0]["content"],
    ),
}


@pytest.mark.parametrize("name", list(PAIRWISE))
def test_preference_sources_import_as_pairwise_and_export_exactly(db, tmp_path, name):
    rows, prompt, chosen, rejected = PAIRWISE[name]
    p = svc.create_project(db, name, task_type="pairwise")
    assert svc.import_tasks(db, p["id"], _write(tmp_path / "in.jsonl", rows)) == 1
    user = svc.create_user(db, "ann", "password1")["id"]
    t = _next(db, user, p["id"])
    assert sorted(t["responses"]) == sorted([chosen, rejected])
    if isinstance(prompt, list):
        assert (t["prompt"], t["messages"]) == ("", prompt)
    else:
        assert (t["prompt"], t["messages"]) == (prompt, [])
    _judge_as_source(db, p["id"], user)
    (row,) = export_rows(db, p["id"], "dpo")
    assert row["prompt"] == prompt
    assert row["chosen"] in (chosen, [{"role": "assistant", "content": chosen}])
    assert row["rejected"] in (rejected, [{"role": "assistant", "content": rejected}])


def test_more_than_two_answers_import_as_ranking(db, tmp_path):
    p = svc.create_project(db, "nectar", task_type="ranking")
    svc.import_tasks(db, p["id"], _write(tmp_path / "n.jsonl", NECTAR))
    user = svc.create_user(db, "ann", "password1")["id"]
    t = _next(db, user, p["id"])
    assert len(t["responses"]) == 7 and t["prompt"] == "What is the capital of Australia?"
    (task,) = load_project(db, p["id"])["tasks"].values()
    assert task.meta["source_ranks"] == [1, 2, 3, 4, 5, 6, 7] and task.meta["source_preferred"] == 0
    assert (
        task.meta["good_natured"] is True and task.meta["source_format"] == "nectar"
    )  # the row's own fields
    assert task.responses[0] == "The capital of Australia is Canberra."  # stored best first
    p2 = svc.create_project(db, "uf", task_type="ranking")
    svc.import_tasks(db, p2["id"], _write(tmp_path / "uf.jsonl", ULTRAFEEDBACK))
    t = _next(db, user, p2["id"])
    assert sorted(t["responses"]) == sorted(UF_RANKED)


def test_sft_sources_import_as_single_answer_tasks(db, tmp_path):
    p = svc.create_project(db, "dolly", task_type="rubric")
    assert svc.import_tasks(db, p["id"], _write(tmp_path / "d.jsonl", DOLLY)) == 2
    p2 = svc.create_project(db, "oasst", task_type="rewrite")
    assert svc.import_tasks(db, p2["id"], _write(tmp_path / "o.jsonl", OASST1)) == 1
    user = svc.create_user(db, "ann", "password1")["id"]
    t = _next(db, user, p2["id"])
    # the conversation up to the last answer is the context; the last answer is under review
    assert t["responses"] == [OASST1_TOP[-1][1]]
    assert [(m["role"], m["content"]) for m in t["messages"]] == OASST1_TOP[:-1]


def test_rated_answers_group_by_prompt_for_pairwise(db, tmp_path):
    p = svc.create_project(db, "hs", task_type="pairwise")
    assert svc.import_tasks(db, p["id"], _write(tmp_path / "hs.jsonl", HELPSTEER2)) == 2
    p2 = svc.create_project(db, "dolly-pairs", task_type="pairwise")
    with pytest.raises(InputError, match="exactly 2 responses, got 1; nothing imported"):
        svc.import_tasks(db, p2["id"], _write(tmp_path / "d.jsonl", DOLLY))


def test_cli_imports_hh_rlhf(tmp_path):
    from typer.testing import CliRunner

    from datamill.cli.main import app

    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    runner = CliRunner()
    r = runner.invoke(app, ["feedback", "create-project", "hh", "--type", "pairwise"], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["feedback", "import", "hh", str(_write(tmp_path / "hh.jsonl", HH_RLHF))], env=env)
    assert r.exit_code == 0, r.output
    assert "2" in r.output


def test_ties_import_as_tasks_without_a_source_verdict(db, tmp_path):
    from public_rows import CHATBOT_ARENA

    tie = {**CHATBOT_ARENA[0], "winner": "tie", "question_id": "q2"}
    p = svc.create_project(db, "arena", task_type="pairwise")
    assert svc.import_tasks(db, p["id"], _write(tmp_path / "a.jsonl", [CHATBOT_ARENA[0], tie])) == 2
    metas = {
        t.external_id: (t.meta.get("source_preferred"), t.meta.get("source_tie"))
        for t in load_project(db, p["id"])["tasks"].values()
    }
    assert metas == {CHATBOT_ARENA[0]["question_id"]: (0, None), "q2": (None, "winner 'tie'")}


def test_upload_takes_public_shapes_and_names_the_uploaded_file(db, tmp_path):
    p = svc.create_project(db, "web", task_type="pairwise")
    data = "".join(json.dumps(r) + "\n" for r in HH_RLHF).encode()
    assert svc.import_upload(db, p["id"], "hh-rlhf-train.jsonl", data) == 2
    bad = b'{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: hello", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: hey"}\n{oops\n'
    with pytest.raises(InputError) as err:
        svc.import_upload(db, p["id"], "broken.jsonl", bad)
    assert err.value.path == "broken.jsonl" and err.value.line == 2 and "nothing imported" in str(err.value)


def test_transcripts_diverging_early_show_whole_completions(db, tmp_path):
    row = {
        "chosen": "\n\nHuman: a?\n\nAssistant: b.\n\nHuman: c?\n\nAssistant: d.",
        "rejected": "\n\nHuman: a?\n\nAssistant: x.",
    }
    p = svc.create_project(db, "hh-odd", task_type="pairwise")
    svc.import_tasks(db, p["id"], _write(tmp_path / "hh.jsonl", [row]))
    (task,) = load_project(db, p["id"])["tasks"].values()
    assert task.prompt == "a?" and task.responses == ["assistant: b.\n\nuser: c?\n\nassistant: d.", "x."]


def test_ids_past_64_bits_are_a_client_error_not_a_500(db):
    from fastapi.testclient import TestClient

    from datamill.feedback.app import create_app

    admin = svc.create_user(db, "root", "root-password", role="admin")
    token = svc.create_api_token(db, admin["id"])
    client = TestClient(create_app(db))
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/api/tasks/9223372036854775808", "/api/judgements/9223372036854775808"):
        assert client.get(path, headers=headers).status_code == 422
    r = client.post(
        "/api/tasks/9223372036854775808/judgements", json={"client_key": "k", "value": {}}, headers=headers
    )
    assert (
        r.status_code == 422
    )  # was 500: OverflowError from the SQLite driver (found by the schemathesis fuzz)
    # ids go to what both databases hold (PostgreSQL's INTEGER), so both answer alike
    assert client.get("/api/tasks/2147483647", headers=headers).status_code == 404
    assert client.get("/api/tasks/2147483648", headers=headers).status_code == 422
    assert client.get("/api/projects/99999999999999999999/export", headers=headers).status_code == 404

"""A teacher that fails every request (or more than ``max_failures`` of them) stops the run with the
first cause, in every synthetic task and command, instead of writing an empty output and exiting 0."""

from __future__ import annotations

import json
import re
import socket

import pytest
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.errors import ConfigError, TeacherError
from datamill.records import Document
from datamill.synthetic import (
    OpenAITeacher,
    Respond,
    Runner,
    evol_instruct,
    judge_pairs,
    qa_from_docs,
    respond,
    self_instruct,
)
from datamill.synthetic.engine import Job

runner = CliRunner()


@pytest.fixture
def dead_url():
    """The base URL of a port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def no_backoff(monkeypatch):
    """Retries without waiting, so a dead teacher fails fast (the CLI builds its own teacher)."""
    monkeypatch.setattr(OpenAITeacher, "_delay", lambda self, attempt, retry_after: 0.0)


def _dead(url):
    return OpenAITeacher(base_url=url, model="m", max_retries=1, backoff_base=0.001, backoff_max=0.001)


PASSAGE = (
    "Mount Everest is the highest mountain above sea level. It lies in the Himalayas on the border of "
    "Nepal and China. Climbers first reached its summit in 1953."
)


@pytest.mark.parametrize("task", ["respond", "qa", "judge", "self_instruct", "evol"])
def test_every_task_stops_when_every_request_fails(dead_url, task):
    t = _dead(dead_url)
    calls = {
        "respond": lambda: respond(["a", "b", "c"], t, cache=None),
        "qa": lambda: qa_from_docs([Document(id="c1", text=PASSAGE)], t, cache=None),
        "judge": lambda: judge_pairs(["Why?"], ["Because."], ["Air scatters blue light."], t, cache=None),
        "self_instruct": lambda: self_instruct(
            ["Write a haiku about rain.", "Explain photosynthesis simply.", "List three uses of vinegar."],
            t,
            cache=None,
            num_instructions=5,
        ),
        "evol": lambda: evol_instruct(["Explain photosynthesis simply."], t, cache=None),
    }
    with pytest.raises(TeacherError) as err:
        calls[task]()
    msg = str(err.value)
    assert msg.startswith("every teacher request failed")
    assert (
        f"first cause: {dead_url}: gave up after 2 attempts: ConnectError" in msg
        and "connection refused" in msg
    )


def test_a_share_of_failures_above_max_failures_stops_the_run(fake_server):
    fake_server.rates["error_rate"] = 0.3
    prompts = [f"Explain thing {i}." for i in range(40)]

    def teacher():
        return OpenAITeacher(base_url=fake_server.url, model="fake-teacher", max_retries=0)

    step = Respond(teacher=teacher(), cache=None, max_failures=0.5)
    out = list(step(respond_records(prompts)))
    failed = step.usage.failed
    assert 0 < failed < 20 and len(out) == 40 - failed  # under the share: kept, counted, first cause recorded
    assert step.usage.first_failure and "HTTP 500" in step.usage.first_failure
    assert step.stats.counters["failed"] == failed

    fake_server.reset_stats()
    with pytest.raises(
        TeacherError,
        match=r"\d+ of 40 teacher requests failed \(\d+%, more than the allowed "
        r"--max-failures / max_failures 0.1\); first cause: .*HTTP 500",
    ):
        list(Respond(teacher=teacher(), cache=None, max_failures=0.1)(respond_records(prompts)))


def respond_records(prompts):
    from datamill.records import Example

    return [Example(input=p) for p in prompts]


def test_a_dead_teacher_stops_a_long_run_after_the_first_batch(dead_url):
    t = _dead(dead_url)
    step = Respond(teacher=t, cache=None, batch_size=25)
    with pytest.raises(TeacherError, match=r"every teacher request failed \(25\)"):
        list(step(respond_records([f"p{i}" for i in range(200)])))
    assert step.usage.jobs == 25 and t.sent == 50  # one batch, each request tried twice


def test_max_failures_is_validated_and_checked_by_the_runner(dead_url):
    with pytest.raises(ConfigError, match="max_failures must be a share between 0 and 1, got 2"):
        Respond(teacher=_dead(dead_url), max_failures=2)
    with pytest.raises(ConfigError, match="max_failures"):
        Runner(_dead(dead_url), max_failures=-0.1)
    r = Runner(_dead(dead_url), max_failures=1.0)
    [res] = r.run([Job(messages=[{"role": "user", "content": "hi"}])])
    assert res.error == "teacher_error" and r.usage.to_dict()["first_failure"].startswith(dead_url)
    r.check_failures(final=False)  # 1 request is too few to judge mid-run
    with pytest.raises(TeacherError, match="every teacher request failed"):  # even with max_failures=1.0
        r.check_failures()


def test_cli_respond_against_a_teacher_that_is_not_running(tmp_path, dead_url, no_backoff):
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps({"prompt": f"Explain thing {i}."}) + "\n" for i in range(3)))
    res = runner.invoke(
        app,
        [
            "synthetic",
            "respond",
            "-t",
            dead_url,
            "-m",
            "m",
            "-i",
            str(src),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--cache",
            "none",
            "--no-progress",
        ],
    )
    assert res.exit_code != 0 and "0 records from 3 inputs" not in res.output
    assert isinstance(res.exception, TeacherError)
    assert "every teacher request failed (3)" in str(res.exception) and dead_url in str(res.exception)
    assert "connection refused" in str(res.exception)
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("command", ["qa", "judge", "self-instruct", "generate"])
def test_cli_every_command_stops_on_a_dead_teacher(tmp_path, dead_url, no_backoff, sample_data, command):
    rows = {
        "qa": {"text": PASSAGE},
        "judge": {"prompt": "Why?", "response_a": "Because.", "response_b": "Air."},
    }
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(rows.get(command, {"type": "example", "input": "Explain rain."})) + "\n")
    common = ["-t", dead_url, "-m", "m", "-o", str(tmp_path / "o.jsonl"), "--cache", "none", "--no-progress"]
    if command == "generate":
        (tmp_path / "r.yaml").write_text(
            f"reader: {{type: read.jsonl, paths: {src}}}\n"
            f"steps:\n  - {{type: synthetic.evol_instruct, teacher: {{base_url: '{dead_url}', model: m}}, "
            f"cache: null}}\nwriter: {{type: write, format: jsonl}}\noutput: {tmp_path / 'out'}\n"
        )
        args = ["synthetic", "generate", str(tmp_path / "r.yaml"), "-w", "1", "--json"]
    elif command == "self-instruct":
        args = [
            "synthetic",
            command,
            *common,
            "--seeds",
            str(sample_data / "finetune" / "self_instruct_seed_tasks.jsonl"),
            "-n",
            "5",
        ]
    else:
        args = ["synthetic", command, *common, "-i", str(src)]
    res = runner.invoke(app, args)
    assert res.exit_code != 0, res.output
    assert isinstance(res.exception, TeacherError) and "connection refused" in str(res.exception)


def test_cli_max_failures_option(tmp_path, fake_server, no_backoff):
    """The fake teacher answers 500 to most requests; one at a time, so the failures repeat exactly."""
    fake_server.rates["error_rate"] = 0.75
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps({"prompt": f"Explain thing {i}."}) + "\n" for i in range(40)))
    args = [
        "synthetic",
        "respond",
        "-t",
        fake_server.url,
        "-m",
        "fake-teacher",
        "-i",
        str(src),
        "-c",
        "1",
        "-o",
        str(tmp_path / "o.jsonl"),
        "--cache",
        "none",
        "--no-progress",
    ]
    res = runner.invoke(app, [*args, "--max-failures", "0.9"])
    assert res.exit_code == 0, res.output
    assert "teacher request(s) failed past their retries" in res.output and "HTTP 500" in res.output
    kept = len((tmp_path / "o.jsonl").read_text().splitlines())
    assert 0 < kept < 40
    fake_server.reset_stats()
    res = runner.invoke(app, [*args, "--max-failures", "0"])
    assert res.exit_code != 0 and isinstance(res.exception, TeacherError)
    assert re.search(r"\d+ of 40 teacher requests failed", str(res.exception)), res.exception
    res = runner.invoke(app, [*args, "--max-failures", "1.5"])
    assert res.exit_code == 2 and "--max-failures" in res.output

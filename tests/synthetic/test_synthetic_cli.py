"""The `datamill synthetic` commands in-process against the fake server; the public API surface."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

from typer.testing import CliRunner

from datamill.cli.main import app

runner = CliRunner()


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_respond_resume_and_print_recipe(tmp_path, fake_server):
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps({"prompt": f"Explain thing {i}."}) + "\n" for i in range(12)))
    args = [
        "synthetic",
        "respond",
        "--teacher",
        fake_server.url,
        "--model",
        "fake-teacher",
        "-i",
        str(src),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--cache",
        str(tmp_path / "c.sqlite"),
        "-k",
        "2",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Teacher usage" in res.output and "24 records from 12 inputs" in res.output
    assert len(_rows(tmp_path / "o.jsonl")) == 24 and fake_server.requests == 24
    res = runner.invoke(app, [*args, "--json"])
    data = json.loads(res.output)
    assert data["usage"]["cache_hits"] == 24 and data["usage"]["requests"] == 0 and fake_server.requests == 24
    res = runner.invoke(app, [*args, "--print-recipe"])
    assert "synthetic.respond" in res.output and "read.jsonl" in res.output


def test_qa_judge_self_instruct(tmp_path, fake_server, sample_data):
    chunks = tmp_path / "chunks.jsonl"
    chunks.write_text(
        json.dumps(
            {
                "id": "c1",
                "text": "Mount Everest is the highest mountain above sea level. "
                "It lies in the Himalayas on the border of Nepal and China.",
            }
        )
        + "\n"
    )
    res = runner.invoke(
        app,
        [
            "synthetic",
            "qa",
            "-t",
            fake_server.url,
            "-m",
            "fake-teacher",
            "-i",
            str(chunks),
            "-o",
            str(tmp_path / "qa.jsonl"),
            "--cache",
            "none",
            "--n-per-chunk",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    qa = _rows(tmp_path / "qa.jsonl")
    assert len(qa) == 2 and all(r["provenance"]["parents"] == ["c1"] for r in qa)

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        json.dumps(
            {
                "prompt": "Why is the sky blue?",
                "response_a": "Because.",
                "response_b": "Air molecules scatter blue light more than red light.",
            }
        )
        + "\n"
    )
    res = runner.invoke(
        app,
        [
            "synthetic",
            "judge",
            "-t",
            fake_server.url,
            "-m",
            "fake-teacher",
            "-i",
            str(pairs),
            "-o",
            str(tmp_path / "prefs.jsonl"),
            "--cache",
            "none",
        ],
    )
    assert res.exit_code == 0, res.output
    [pref] = _rows(tmp_path / "prefs.jsonl")
    assert pref["type"] == "preference" and pref["chosen"].startswith("Air molecules")

    res = runner.invoke(
        app,
        [
            "synthetic",
            "self-instruct",
            "-t",
            fake_server.url,
            "-m",
            "fake-teacher",
            "--seeds",
            str(sample_data / "finetune" / "self_instruct_seed_tasks.jsonl"),
            "-o",
            str(tmp_path / "si.jsonl"),
            "--cache",
            "none",
            "-n",
            "10",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["generated"] == 10 and len(_rows(tmp_path / "si.jsonl")) == 10


def test_generate_recipe(tmp_path, fake_server):
    src = tmp_path / "p.jsonl"
    src.write_text(
        "".join(json.dumps({"type": "example", "input": f"Explain thing {i}."}) + "\n" for i in range(5))
    )
    (tmp_path / "r.yaml").write_text(
        f"reader: {{type: read.jsonl, paths: {src}}}\n"
        f"steps:\n  - {{type: synthetic.respond, teacher: {{base_url: '{fake_server.url}', model: fake-teacher}}, "
        f"cache: {tmp_path / 'c.sqlite'}}}\n  - {{type: synthetic.judge, mode: rubric, teacher: "
        f"{{base_url: '{fake_server.url}', model: fake-teacher}}, cache: null}}\n"
        f"  - {{type: synthetic.judge_score, min_score: 1}}\nwriter: {{type: write, format: jsonl}}\n"
        f"output: {tmp_path / 'out'}\n"
    )
    res = runner.invoke(app, ["synthetic", "generate", str(tmp_path / "r.yaml"), "-w", "1"])
    assert res.exit_code == 0, res.output
    assert "Teacher usage per step" in res.output and fake_server.requests == 10


def test_bad_teacher_is_one_red_line(tmp_path):
    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps({"prompt": "x"}) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "datamill.cli.main",
            "synthetic",
            "respond",
            "-t",
            "localhost:1",
            "-m",
            "m",
            "-i",
            str(src),
            "-o",
            str(tmp_path / "o.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "neither an http(s):// URL nor a local model folder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_public_api_is_sorted_and_light():
    import datamill.synthetic as syn

    assert list(syn.__all__) == sorted(syn.__all__)
    assert all(hasattr(syn, n) for n in syn.__all__)
    code = (
        "import sys, datamill.synthetic; print([m for m in ('httpx', 'torch', 'transformers', 'rich') "
        "if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    ).stdout.strip()
    assert out == "[]"


def test_respond_json_schema_invalid_output_counted_rejected_never_kept(tmp_path, fake_server):
    """Non-JSON where JSON is required, empty answers and answers truncated by max_tokens are counted per
    reason and re-asked; what is still invalid goes to the rejects file, never to the output."""
    fake_server.rates.update(bad_json_rate=0.2, empty_rate=0.15, truncate_rate=0.15)
    n = 80
    src = tmp_path / "p.jsonl"
    src.write_text(
        "".join(json.dumps({"id": f"p{i}", "prompt": f"Explain thing {i}."}) + "\n" for i in range(n))
    )
    schema = {
        "type": "object",
        "required": ["answer"],
        "additionalProperties": False,
        "properties": {"answer": {"type": "string", "minLength": 1}},
    }
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    out = tmp_path / "o.jsonl"
    args = [
        "synthetic",
        "respond",
        "-t",
        fake_server.url,
        "-m",
        "fake-teacher",
        "-i",
        str(src),
        "-o",
        str(out),
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--json-schema",
        str(tmp_path / "schema.json"),
        "--json",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    invalid = data["usage"]["invalid"]
    assert invalid["not_json"] > 0 and invalid["empty"] > 0 and invalid["truncated"] > 0, invalid
    rows = _rows(out)
    rejects = _rows(tmp_path / "o.rejects.jsonl")
    assert data["rejected"] == len(rejects) > 0 and len(rows) + len(rejects) == n
    assert (
        data["usage"]["quarantined"] == data["step"]["dropped"] == dict(Counter(r["reason"] for r in rejects))
    )
    for row in rows:  # every kept answer is JSON that satisfies the schema
        value = json.loads(row["output"])
        assert set(value) == {"answer"} and value["answer"]
    reasked = [r["provenance"]["extra"] for r in rows if "reasks" in r["provenance"]["extra"]]
    assert reasked  # provenance records the parameters of the answer kept, not of the first request
    for extra in reasked:
        doublings = extra["reasks"].count("truncated")
        assert extra["params"]["max_tokens"] == 1024 * 2**doublings
        assert (extra["seed"] == 0) == ("empty" not in extra["reasks"])
    kept = {r["provenance"]["parents"][0] for r in rows}
    for r in rejects:  # given up after 1 + 2 re-asks, with the last bad answer kept for a look
        assert r["reason"] in ("not_json", "empty", "truncated") and r["attempts"] == 3
        assert r["record_id"] not in kept and r["answer"] is not None
    # the rerun is served from the cache, gives the same split and rewrites (does not append to) the rejects
    sent = fake_server.requests
    again = json.loads(runner.invoke(app, args).output)
    assert fake_server.requests == sent and again["usage"]["requests"] == 0
    assert _rows(out) == rows and len(_rows(tmp_path / "o.rejects.jsonl")) == len(rejects)
    # a schema the teacher never satisfies: every item is rejected as 'schema', none kept
    schema["required"] = ["answer", "confidence"]
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    fake_server.rates.update(bad_json_rate=0.0, empty_rate=0.0, truncate_rate=0.0)
    data = json.loads(runner.invoke(app, [*args[:-1], "-k", "1", "--max-tokens", "99", "--json"]).output)
    assert data["records_out"] == 0 and data["usage"]["quarantined"] == {"schema": n}


def test_run_step_reads_seed_tasks_and_puts_rejects_beside_the_output(tmp_path, fake_server, sample_data):
    """What `synthetic self-instruct` does is one library call: make_teacher takes the connection options,
    run_step reads Self-Instruct seed files and puts the rejects beside the output, clearing a stale file."""
    from datamill.synthetic import SelfInstruct, make_teacher
    from datamill.synthetic.run import default_rejects, run_step

    assert default_rejects(tmp_path / "o.jsonl.gz") == str(tmp_path / "o.rejects.jsonl")
    assert default_rejects("o.parquet") == "o.rejects.jsonl"
    teacher = make_teacher(
        fake_server.url, model="fake-teacher", max_concurrency=3, api_key_env="NO_SUCH_KEY"
    )
    assert (teacher.spec()["max_concurrency"], teacher.spec()["api_key_env"]) == (3, "NO_SUCH_KEY")
    assert (
        make_teacher(
            {"base_url": fake_server.url, "model": "m", "max_concurrency": 5}, max_concurrency=3
        ).spec()["max_concurrency"]
        == 5
    )  # the spec's own value wins
    stale = tmp_path / "si.rejects.jsonl"
    stale.write_text('{"from": "an earlier run"}\n')
    fake_server.rates.update(
        error_rate=0.5
    )  # failed requests (no retries) are given up into the rejects file
    teacher = make_teacher({"base_url": fake_server.url, "max_retries": 0}, model="fake-teacher")
    step = SelfInstruct(teacher=teacher, num_instructions=5, cache=None, progress=False, max_failures=1.0)
    run = run_step(
        step,
        sample_data / "finetune" / "self_instruct_seed_tasks.jsonl",
        tmp_path / "si.jsonl",
        rejects="default",
    )
    assert run.records_in == 175 and run.records_out == len(_rows(tmp_path / "si.jsonl")) == 5
    assert run.rejects == str(stale) and run.rejected == len(_rows(stale)) > 0
    assert all(r["reason"] == "teacher_error" for r in _rows(stale))


def test_teacher_options_apply_and_name_their_flags(tmp_path, fake_server):
    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps({"prompt": "Explain thing."}) + "\n")
    args = [
        "synthetic",
        "respond",
        "-t",
        fake_server.url,
        "-i",
        str(src),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--cache",
        "none",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "needs a model name (model=)" in str(res.exception)
    res = runner.invoke(app, [*args, "-m", "fake-teacher", "--concurrency", "2", "--print-recipe"])
    assert res.exit_code == 0, res.output
    assert "max_concurrency: 2" in res.output and f"base_url: {fake_server.url}" in res.output
    res = runner.invoke(app, [*args, "-m", "fake-teacher", "--no-progress", "--rejects", "none", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["records_out"] == 1 and not (tmp_path / "o.rejects.jsonl").exists()

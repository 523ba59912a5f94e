"""`datamill pretrain run --print-recipe` prints all of the run: `datamill run` on it redoes the
documents, the fixed-size shards, the manifest counts and the report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from datamill.cli.main import app


def _files(folder: Path) -> dict[str, str]:
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file() and f.name != "index.json"
    }


def _counts(out: Path) -> dict:
    m = json.loads((out / "manifest.json").read_text())
    return {
        "records_in": m["records_in"],
        "records_out": m["output"]["records"],
        "pipeline": m["pipeline"],
        "steps": [(s["name"], s["seen"], s["kept"], s["dropped"]) for s in m["steps"]],
        "shards": {k: v for k, v in m["shards"].items() if k != "folder"},
        "finish": m["finish"],
    }


def test_printed_recipe_reproduces_the_whole_run(sample_data, tmp_path):
    runner = CliRunner()
    args = [
        "pretrain",
        "run",
        "-i",
        str(sample_data / "pretrain" / "*.warc*"),
        "-o",
        str(tmp_path / "direct"),
        "-w",
        "1",
        "--token-ids",
    ]
    printed = runner.invoke(app, [*args, "--print-recipe"])
    assert printed.exit_code == 0, printed.output
    recipe = yaml.safe_load(printed.output)
    assert [f["type"] for f in recipe["finish"]] == ["pretrain.shards", "pretrain.report"]
    assert recipe["finish"][0]["token_ids"] is True
    (tmp_path / "r.yaml").write_text(printed.output)

    direct = runner.invoke(app, args)
    assert direct.exit_code == 0, direct.output
    again = runner.invoke(app, ["run", str(tmp_path / "r.yaml"), "-o", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    assert "shards" in again.output and "report" in again.output

    a, b = tmp_path / "direct", tmp_path / "again"
    assert _counts(a) == _counts(b)
    assert _counts(a)["shards"]["tokens"] > 0
    for sub in ("data", "shards", "dedup"):
        assert _files(a / sub) == _files(b / sub), sub
    assert (a / "shards" / "tokens").is_dir()  # --token-ids reached the recipe
    index_a, index_b = (json.loads((x / "shards" / "index.json").read_text()) for x in (a, b))
    assert {**index_a, "folder": None} == {**index_b, "folder": None}
    for out in (a, b):
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["report"] == str(out / "report.html")
        report = (out / "report.html").read_text()
        assert f"{manifest['shards']['tokens']:,}" in report  # the report shows the shards' token total


def test_tokenize_recipe_shards_too(sample_data, tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "pretrain",
            "tokenize",
            "-i",
            str(sample_data / "pretrain" / "*.jsonl.gz"),
            "-o",
            str(tmp_path / "t"),
            "--tokens-per-shard",
            "5000",
            "--print-recipe",
        ],
    )
    assert res.exit_code == 0, res.output
    assert yaml.safe_load(res.output)["finish"] == [
        {"type": "pretrain.shards", "tokenizer": "cl100k_base", "tokens_per_shard": 5000, "token_ids": False}
    ]


def test_finish_entries_are_checked(tmp_path):
    from datamill.errors import ConfigError
    from datamill.recipes import parse_recipe

    base = {"reader": {"type": "read.jsonl", "paths": str(tmp_path / "x.jsonl")}, "output": "o"}
    with pytest.raises(ConfigError, match="'finish' must be a list"):
        parse_recipe({**base, "finish": {"type": "pretrain.report"}})
    with pytest.raises(ConfigError, match="is a step, not a finisher"):
        parse_recipe({**base, "finish": [{"type": "dedup.exact"}]})
    with pytest.raises(ConfigError, match="tokens_per_shard must be >= 1"):
        parse_recipe({**base, "finish": [{"type": "pretrain.shards", "tokens_per_shard": 0}]})
    assert parse_recipe({**base, "finish": [{"type": "pretrain.report"}]}).to_dict()["finish"] == [
        {"type": "pretrain.report"}
    ]

"""The same generation recipe on the Ray executor gives the same records as the local one."""

from __future__ import annotations

import json
import os

import pytest

from datamill.io import write_records
from datamill.recipes import parse_recipe
from datamill.records import Example


@pytest.mark.ray
def test_ray_executor_matches_local(tmp_path, fake_server, ray_local):
    src = tmp_path / "p.jsonl"
    write_records([Example(input=f"Explain topic number {i}.") for i in range(20)], src)
    config = {
        "reader": {"type": "read.jsonl", "paths": str(src)},
        "steps": [
            {
                "type": "synthetic.respond",
                "teacher": {"base_url": fake_server.url, "model": "fake-teacher"},
                "cache": str(tmp_path / "c.sqlite"),
                "k": 2,
            }
        ],
        "writer": {"type": "write", "format": "jsonl"},
    }
    local = parse_recipe(config).run(output=str(tmp_path / "local"), workers=1)
    assert fake_server.requests == 40
    ray = parse_recipe({**config, "executor": "ray"}).run(output=str(tmp_path / "ray"))
    assert fake_server.requests == 40  # the Ray workers found every answer in the shared cache

    def rows(res):
        return sorted(
            json.dumps(json.loads(line), sort_keys=True)
            for f in res.files
            for line in open(os.path.join(res.output, f), encoding="utf-8")
        )

    assert rows(ray) == rows(local) and len(rows(ray)) == 40


@pytest.mark.ray
def test_generate_cli_with_executor_ray(tmp_path, fake_server, ray_local):
    from typer.testing import CliRunner

    from datamill.cli.main import app

    for part in range(3):  # one shard per input file: three Ray tasks
        write_records(
            [Example(id=f"p{part}-{i}", input=f"Explain topic {part}.{i}.") for i in range(10)],
            tmp_path / f"p{part}.jsonl",
        )
    (tmp_path / "r.yaml").write_text(
        f"reader: {{type: read.jsonl, paths: ['{tmp_path}/p0.jsonl', '{tmp_path}/p1.jsonl', '{tmp_path}/p2.jsonl']}}\n"
        f"steps:\n  - {{type: synthetic.respond, teacher: {{base_url: '{fake_server.url}', model: fake-teacher}}, "
        f"cache: '{tmp_path / 'c.sqlite'}'}}\nwriter: {{type: write, format: jsonl}}\noutput: '{tmp_path / 'out'}'\n"
    )
    res = CliRunner().invoke(
        app, ["synthetic", "generate", str(tmp_path / "r.yaml"), "--executor", "ray", "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["records_out"] == 30 and data["steps"][0]["counters"]["requests"] == 30
    assert fake_server.requests == 30
    data_dir = tmp_path / "out" / "data"
    parents = sorted(
        json.loads(line)["provenance"]["parents"][0]
        for f in sorted(data_dir.iterdir())
        for line in f.read_text(encoding="utf-8").splitlines()
    )
    assert parents == sorted(f"p{p}-{i}" for p in range(3) for i in range(10))
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["executor"]["type"] == "ray"

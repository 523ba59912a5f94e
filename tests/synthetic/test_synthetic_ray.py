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
    config = {"reader": {"type": "read.jsonl", "paths": str(src)},
              "steps": [{"type": "synthetic.respond", "teacher": {"base_url": fake_server.url, "model": "fake-teacher"},
                         "cache": str(tmp_path / "c.sqlite"), "k": 2}],
              "writer": {"type": "write", "format": "jsonl"}}
    local = parse_recipe(config).run(output=str(tmp_path / "local"), workers=1)
    assert fake_server.requests == 40
    ray = parse_recipe({**config, "executor": "ray"}).run(output=str(tmp_path / "ray"))
    assert fake_server.requests == 40  # the Ray workers found every answer in the shared cache

    def rows(res):
        return sorted(json.dumps(json.loads(line), sort_keys=True) for f in res.files
                      for line in open(os.path.join(res.output, f), encoding="utf-8"))

    assert rows(ray) == rows(local) and len(rows(ray)) == 40

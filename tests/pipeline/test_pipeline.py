import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from datamill.errors import ConfigError
from datamill.io import read_records, write_jsonl
from datamill.pipeline import ExactDedup, JsonlReader, LengthFilter, Pipeline, RegexFilter, Writer
from datamill.recipes import dump_recipe, load_recipe
from datamill.records import Document

HERE = Path(__file__).parent


def make_corpus(folder: Path, shards: int = 6, per_shard: int = 120) -> None:
    for s in range(shards):
        docs = []
        for i in range(per_shard):
            n = (s * per_shard + i) % 400  # about a third are exact duplicates across shards
            words = " ".join(f"w{(n * 31 + k) % 997}" for k in range(3 + n % 9))
            docs.append(Document(text=f"Doc {n}: {words}.", metadata={"shard": s, "i": i}))
        write_jsonl(docs, folder / f"part-{s}.jsonl.gz")


def shard_hashes(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "data").iterdir())}


def records(out: Path) -> list[dict]:
    return sorted(
        (r.to_dict() for r in read_records(out / "data")), key=lambda d: json.dumps(d, sort_keys=True)
    )


@pytest.fixture()
def corpus(tmp_path):
    make_corpus(tmp_path / "in")
    return tmp_path / "in"


def pipeline(corpus: Path, *extra) -> Pipeline:
    return Pipeline(
        [LengthFilter(min_words=5), RegexFilter(pattern=r"w13\b", reason="has_w13"), ExactDedup(), *extra],
        reader=JsonlReader(paths=str(corpus / "*.jsonl.gz")),
        writer=Writer(format="parquet"),
    )


def test_in_memory_and_sharded_runs_agree(corpus, tmp_path):
    pipe = pipeline(corpus)
    in_memory = list(pipe(pipe.reader.read()))
    result = pipe.run(tmp_path / "out", workers=2)
    assert result.records_out == len(in_memory)
    assert sorted(d.text for d in in_memory) == sorted(r["text"] for r in records(tmp_path / "out"))
    by_name = {s.name: s for s in result.steps}
    assert by_name["dedup.exact"].dropped["exact_duplicate"] > 0
    assert by_name["filter.regex"].dropped["has_w13"] > 0
    assert by_name["filter.length"].seen == result.records_in == 720


def test_manifest_has_inputs_params_versions_counts_timings(corpus, tmp_path):
    result = pipeline(corpus).run(tmp_path / "out", workers=1)
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m == result.manifest
    assert len(m["inputs"]) == 6 and m["inputs"][0]["bytes"] > 0
    assert m["pipeline"]["steps"][0] == {"type": "filter.length", "min_words": 5}
    assert {"python", "datamill", "pyarrow"} <= set(m["versions"])
    assert [s["name"] for s in m["steps"]] == ["filter.length", "filter.regex", "dedup.exact"]
    assert m["global"][0]["duplicates"] == m["steps"][2]["dropped"]["exact_duplicate"]
    assert m["timings"]["seconds"] > 0 and len(m["timings"]["stages"]) == 2
    assert m["output"]["records"] == result.records_out


def test_rerun_of_a_finished_run_skips_everything(corpus, tmp_path):
    first = pipeline(corpus).run(tmp_path / "out", workers=1)
    again = pipeline(corpus).run(tmp_path / "out", workers=1)
    assert again.skipped_shards == 12 and again.records_out == first.records_out


def test_output_of_another_pipeline_is_refused(corpus, tmp_path):
    pipeline(corpus).run(tmp_path / "out", workers=1)
    other = Pipeline([LengthFilter(min_words=1)], reader=JsonlReader(paths=str(corpus / "*.jsonl.gz")))
    with pytest.raises(ConfigError, match="different pipeline"):
        other.run(tmp_path / "out")
    assert other.run(tmp_path / "out", overwrite=True).records_out == 720


def test_recipe_round_trip_and_bad_recipes(corpus, tmp_path):
    text = dump_recipe(pipeline(corpus), output=str(tmp_path / "o"), workers=2)
    (tmp_path / "r.yaml").write_text(text)
    rec = load_recipe(tmp_path / "r.yaml")
    assert rec.to_yaml() == text and rec.workers == 2
    bad = yaml.safe_load(text)
    bad["steps"][0]["min_wordz"] = 3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=r"bad.yaml: bad parameters for 'filter.length'.*min_wordz"):
        load_recipe(tmp_path / "bad.yaml")
    bad["steps"][0] = {"type": "filter.nope"}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="unknown component type 'filter.nope'; known: .*dedup.exact"):
        load_recipe(tmp_path / "bad.yaml")


def _recipe(corpus: Path, out: Path, tmp_path: Path, slow: float) -> Path:
    pipe = pipeline(corpus)
    cfg = yaml.safe_load(dump_recipe(pipe, output=str(out), workers=1))
    cfg["steps"].insert(0, {"type": "slow_step:SlowStep", "seconds": slow})
    path = tmp_path / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _datamill(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, "-m", "datamill.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kw,
    )


def test_sigkill_mid_run_then_resume_gives_identical_output(corpus, tmp_path):
    clean = _recipe(corpus, tmp_path / "clean", tmp_path, slow=0.0)
    assert _datamill("run", str(clean)).wait(timeout=120) == 0

    killed = _recipe(corpus, tmp_path / "killed", tmp_path, slow=0.004)
    proc = _datamill("run", str(killed))
    done = tmp_path / "killed" / ".datamill" / "done"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(done.glob("s0-*.json")) if done.exists() else []) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    finished = len(list(done.glob("*.json")))
    assert 2 <= finished < 12, "the kill must land mid-run"
    assert not (tmp_path / "killed" / "manifest.json").exists()

    resumed = _datamill("run", str(killed))
    out = resumed.communicate(timeout=120)[0].decode()
    assert resumed.returncode == 0, out
    assert "finished shard task(s) skipped" in out
    assert shard_hashes(tmp_path / "killed") == shard_hashes(tmp_path / "clean")
    m = json.loads((tmp_path / "killed" / "manifest.json").read_text())
    assert m["records_in"] == 720


@pytest.mark.ray
def test_ray_and_local_executors_give_the_same_records(corpus, tmp_path, ray_local):
    local = pipeline(corpus).run(tmp_path / "local", executor="local", workers=2)
    on_ray = pipeline(corpus).run(tmp_path / "ray", executor="ray", workers=2)
    assert on_ray.manifest["executor"]["type"] == "ray"
    assert records(tmp_path / "ray") == records(tmp_path / "local")
    assert local.records_out == on_ray.records_out


def test_quarantine_in_a_pipeline_run(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(b'{"text": "one two three four five"}\nnot json\n{"text": 3}\n')
    pipe = Pipeline(
        [LengthFilter(min_words=1)], reader=JsonlReader(paths=str(tmp_path / "in"), on_error="quarantine")
    )
    result = pipe.run(tmp_path / "out", workers=1)
    assert result.records_out == 1 and result.quarantined == {"bad_record": 1, "invalid_json": 1}
    lines = (tmp_path / "out" / "quarantine" / "part-00000.jsonl").read_text().splitlines()
    assert [json.loads(x)["line"] for x in lines] == [2, 3]

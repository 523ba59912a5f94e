"""The default recipe end to end: shared WARC fixtures, the sample crawl in shards, SIGKILL + resume,
Ray equal to local, the CLI verbs and the report."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.io import read_records
from datamill.pretrain import run_pretrain, sample_crawl_path


def split_sample(folder: Path, parts: int = 3) -> Path:
    """The sample crawl cut into ``parts`` WARC.gz files at record (gzip member) boundaries."""
    from fastwarc.warc import ArchiveIterator

    data = Path(sample_crawl_path()).read_bytes()
    with open(sample_crawl_path(), "rb") as fh:
        starts = [r.stream_pos for r in ArchiveIterator(fh, parse_http=False)]
    folder.mkdir(parents=True, exist_ok=True)
    cuts = [starts[len(starts) * k // parts] for k in range(parts)] + [len(data)]
    for k in range(parts):
        (folder / f"crawl-{k}.warc.gz").write_bytes(data[cuts[k] : cuts[k + 1]])
    return folder


def texts(out: Path) -> list[tuple[str, str]]:
    return [(r.id, r.text) for r in read_records(sorted((out / "data").glob("*.parquet")))]


def digests(out: Path) -> dict[str, str]:
    files = sorted(
        [*(out / "data").glob("*"), *(out / "shards").glob("*.parquet"), *(out / "dedup").glob("*")]
    )
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_shared_warc_fixtures_produce_shards_manifest_report(sample_data, tmp_path):
    result = run_pretrain(str(sample_data / "pretrain" / "*.warc*"), tmp_path / "out", workers=1)
    out = tmp_path / "out"
    assert result.records_in == 2  # the two HTTP responses
    assert (out / "manifest.json").exists() and (out / "report.html").exists()
    index = json.loads((out / "shards" / "index.json").read_text())
    assert index["documents"] == result.records_out
    manifest = json.loads((out / "manifest.json").read_text())  # the token total is in the manifest on disk
    assert manifest["shards"]["tokens"] == index["tokens"] > 0 and manifest["shards"]["files"] == 1
    assert manifest["report"].endswith("report.html")
    names = [s.name for s in result.steps]
    assert names[:3] == ["pretrain.extract", "pretrain.langid", "pretrain.gopher_repetition"]
    assert names[-3:] == ["dedup.exact", "pretrain.minhash_dedup", "pretrain.tokenize"]
    for st in result.steps:
        assert st.seen == st.kept + st.dropped_total


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("sample")
    crawl = split_sample(base / "crawl")
    result = run_pretrain(str(crawl / "*.warc.gz"), base / "local", workers=2)
    return crawl, base / "local", result


def test_sample_crawl_drops_planted_defects(sample_run):
    _, out, result = sample_run
    by = {s.name: s for s in result.steps}
    assert result.quarantined == {"non_html_payload": 2}
    assert by["pretrain.extract"].dropped["empty_document"] == 1
    assert by["pretrain.langid"].dropped["wrong_language"] >= 4  # 4 German/French/Spanish pages at least
    assert by["pretrain.c4_quality"].dropped["lorem_ipsum"] == 1
    assert by["pretrain.c4_quality"].dropped["curly_bracket"] == 1
    assert by["pretrain.gopher_repetition"].dropped_total >= 10  # keyword spam, repeated lines
    assert by["pretrain.pii"].counters["credit_card"] == 1 and by["pretrain.pii"].counters["email"] == 2
    assert by["pretrain.url_dedup"].dropped["duplicate_url"] == 1
    assert by["dedup.exact"].dropped["exact_duplicate"] >= 5
    assert by["pretrain.minhash_dedup"].dropped["near_duplicate"] >= 8
    dups = [
        json.loads(x) for f in sorted((out / "dedup").glob("*.jsonl")) for x in f.read_text().splitlines()
    ]
    assert len(dups) == by["pretrain.minhash_dedup"].dropped["near_duplicate"]
    assert all(d["representative"] and d["cluster_size"] >= 2 for d in dups)
    kept = texts(out)
    assert not any("4111 1111 1111 1111" in t or "maria.schmidt@" in t for _, t in kept)
    report = (out / "report.html").read_text()
    assert "near_duplicate" in report and "<svg" in report and "tokens" in report


def test_default_langid_is_fasttext_and_lingua_keeps_the_same_documents(sample_run, tmp_path):
    crawl, local, default = sample_run
    assert default.manifest["pipeline"]["steps"][1] == {
        "type": "pretrain.langid",
        "languages": ["en"],
        "min_score": 0.65,
        "engine": "fasttext",
    }
    result = run_pretrain(str(crawl / "*.warc.gz"), tmp_path / "lingua", workers=1, langid="lingua")
    assert result.manifest["pipeline"]["steps"][1]["engine"] == "lingua"
    assert texts(tmp_path / "lingua") == texts(local)


@pytest.mark.ray
def test_ray_executor_gives_the_same_documents(sample_run, tmp_path, ray_local):
    crawl, local, _ = sample_run
    result = run_pretrain(str(crawl / "*.warc.gz"), tmp_path / "ray", executor="ray", workers=2)
    assert result.manifest["executor"]["type"] == "ray"
    g = [x for x in result.manifest["global"] if x["step"] == "pretrain.minhash_dedup"][0]
    assert g["bucket_engine"] == "hash_shuffle"
    assert texts(tmp_path / "ray") == texts(local)


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "datamill.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_sigkill_then_resume_gives_identical_output(sample_run, tmp_path):
    crawl, local, _ = sample_run
    out = tmp_path / "killed"
    proc = _cli("pretrain", "run", "-i", str(crawl / "*.warc.gz"), "-o", str(out), "-w", "1")
    done = out / ".datamill" / "done"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(done.glob("s0-*.json")) if done.exists() else []) < 1:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    finished = len(list(done.glob("*.json")))
    assert 1 <= finished < 12, "the kill must land mid-run"
    assert not (out / "manifest.json").exists()
    resumed = _cli("pretrain", "run", "-i", str(crawl / "*.warc.gz"), "-o", str(out), "-w", "2")
    text = resumed.communicate(timeout=120)[0].decode()
    assert resumed.returncode == 0, text
    assert "skipped" in text
    assert digests(out) == digests(local)


def test_cli_verbs_print_recipes_and_run(sample_data, tmp_path):
    runner = CliRunner()
    warc = str(sample_data / "pretrain" / "*.warc*")
    for verb, extra in (
        ("run", []),
        ("extract", []),
        ("filter", []),
        ("dedup", ["--bands", "16", "--rows", "8"]),
        ("tokenize", []),
        ("decontaminate", ["--eval-set", "e.jsonl"]),
    ):
        res = runner.invoke(
            app, ["pretrain", verb, "-i", warc, "-o", str(tmp_path / verb), "--print-recipe", *extra]
        )
        assert res.exit_code == 0, res.output
        assert "steps:" in res.output and "pretrain.read_warc" in res.output
    res = runner.invoke(
        app, ["pretrain", "extract", "-i", warc, "-o", str(tmp_path / "x"), "-w", "1", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["records_out"] == 2
    docs = tmp_path / "x" / "data"
    res = runner.invoke(
        app, ["pretrain", "tokenize", "-i", str(docs), "-o", str(tmp_path / "t"), "-w", "1", "--token-ids"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "t" / "shards" / "tokens" / "shard-00000.bin").exists()
    res = runner.invoke(app, ["pretrain", "report", str(tmp_path / "t")])
    assert res.exit_code == 0 and (tmp_path / "t" / "report.html").exists()
    bad = _cli("pretrain", "report", str(tmp_path / "nothing"))  # through main(): one red line, exit 1
    text = bad.communicate(timeout=60)[0].decode()
    assert bad.returncode == 1 and "no manifest.json" in text and "Traceback" not in text

"""The default pre-training recipe reading from and writing to S3 (a server on 127.0.0.1), locally
and on Ray: the same documents, shards, manifest and report as a run between local folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_pretrain_run import split_sample

from datamill.io import read_records, storage
from datamill.pretrain import run_pretrain


def docs_of(out: str) -> list[tuple[str, str]]:
    files = sorted(storage.listdir(storage.join(out, "data")))
    return [(r.id, r.text) for r in read_records([storage.join(out, "data", f) for f in files])]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("s3ref")
    crawl = split_sample(base / "crawl")
    run_pretrain(str(crawl / "*.warc.gz"), base / "out", workers=2, langid="fasttext")
    return crawl, base / "out"


def upload(crawl: Path, url: str) -> str:
    fs, root = storage.fs_path(url)
    for f in sorted(crawl.glob("*.warc.gz")):
        fs.put_file(str(f), f"{root}/crawl/{f.name}")
    return f"{url}/crawl/"


def check_s3_run(url: str, out: str, local: Path) -> None:
    assert docs_of(out) == docs_of(str(local))
    manifest = storage.read_json(storage.join(out, "manifest.json"))
    assert manifest["inputs"][0]["shard"].startswith(url + "/crawl/")
    assert manifest["inputs"][0]["bytes"] > 0
    assert (
        manifest["shards"]["tokens"] == storage.read_json(storage.join(out, "shards", "index.json"))["tokens"]
    )
    assert storage.read_bytes(storage.join(out, "report.html")).startswith(b"<!doctype html>")
    assert storage.listdir(storage.join(out, "dedup"))  # the near-duplicates, for audit
    assert storage.listdir(storage.join(out, "quarantine"))  # the sample's two non-HTML payloads
    assert not storage.exists(storage.join(out, ".datamill", "work"))


def test_pretrain_run_from_s3_to_s3(local_run, s3_bucket):
    crawl, local = local_run
    out = f"{s3_bucket}/run"
    result = run_pretrain(upload(crawl, s3_bucket), out, workers=2, langid="fasttext")
    assert result.output == out
    check_s3_run(s3_bucket, out, local)
    again = run_pretrain(f"{s3_bucket}/crawl/", out, workers=2, langid="fasttext")  # resumes: all done
    assert again.skipped_shards == result.manifest["inputs"].__len__() * 4


@pytest.mark.ray
def test_pretrain_run_from_s3_to_s3_on_ray(local_run, s3_bucket, ray_local):
    crawl, local = local_run
    out = f"{s3_bucket}/run"
    result = run_pretrain(upload(crawl, s3_bucket), out, executor="ray", workers=2, langid="fasttext")
    assert result.manifest["executor"]["type"] == "ray"
    check_s3_run(s3_bucket, out, local)

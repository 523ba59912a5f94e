"""Readers and writers on shared storage: fsspec's memory and local filesystems and an S3 server
started on 127.0.0.1 (moto); atomic writes, streaming reads, pipeline state beside the output."""

from __future__ import annotations

import gzip
import json
import os

import fsspec
import pytest

from datamill.errors import ConfigError, InputError
from datamill.io import (
    JsonlWriter,
    ParquetWriter,
    expand_paths,
    read_records,
    storage,
    write_jsonl,
    write_parquet,
)
from datamill.pipeline import ExactDedup, JsonlReader, LengthFilter, Pipeline, Writer
from datamill.records import Document


def docs(n: int, prefix: str = "doc") -> list[Document]:
    return [Document(id=f"{prefix}-{i}", text=f"{prefix} number {i} " + "word " * (i % 7)) for i in range(n)]


@pytest.fixture
def mem():
    """A fresh folder on fsspec's in-memory filesystem."""
    root = f"memory://t{os.urandom(4).hex()}"
    yield root
    fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)


@pytest.fixture(params=["memory", "file", "s3"])
def store(request, tmp_path):
    """A folder URL on each kind of store."""
    if request.param == "memory":
        yield request.getfixturevalue("mem")
    elif request.param == "file":
        yield f"file://{tmp_path}"
    else:
        yield request.getfixturevalue("s3_bucket")


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet"])
def test_round_trip_on_every_store(store, suffix):
    want = docs(50)
    url = storage.join(store, "sub", f"part{suffix}")
    n = write_parquet(want, url) if suffix == ".parquet" else write_jsonl(want, url)
    assert n == 50 and storage.exists(url)
    got = list(read_records(url, record_type="document"))
    assert [(d.id, d.text) for d in got] == [(d.id, d.text) for d in want]
    if suffix == ".jsonl.gz":  # really gzip on the store
        assert gzip.decompress(storage.read_bytes(url)).count(b"\n") == 50


def test_folders_and_globs_expand_to_urls(store):
    for name in ("a/1.jsonl", "a/b/2.jsonl.zst", "a/.hidden.jsonl", "a/notes.txt", "c/3.parquet"):
        write_jsonl(docs(2), storage.join(store, *name.split("/")))
    files = expand_paths(storage.join(store, "a"))
    assert [f.rsplit("/", 2)[-2:] for f in files] == [["a", "1.jsonl"], ["b", "2.jsonl.zst"]]
    # URLs come back as URLs of the same store; file:// ones as plain local paths
    assert all(storage.protocol(f) == storage.protocol(store) for f in files)
    assert all(("://" in f) == (not store.startswith("file://")) for f in files)
    assert len(expand_paths(storage.join(store, "*", "*.jsonl"))) == 1
    with pytest.raises(InputError, match="no file matches"):
        expand_paths(storage.join(store, "*.nothing"))
    with pytest.raises(InputError, match="no such file"):
        expand_paths(storage.join(store, "missing.jsonl"))


@pytest.mark.parametrize("cls", [JsonlWriter, ParquetWriter])
def test_nothing_appears_before_close_and_nothing_after_abort(store, cls):
    url = storage.join(store, "out", "part.jsonl.gz" if cls is JsonlWriter else "part.parquet")
    w = cls(url)
    for d in docs(3000):
        w.write(d)
    assert not storage.exists(url)  # written to a local temporary file, not yet on the store
    w.close()
    assert storage.exists(url) and len(list(read_records(url))) == 3000
    url2 = storage.join(store, "out", "failed" + url.rsplit("part", 1)[1])
    with pytest.raises(RuntimeError), cls(url2) as w2:
        w2.write(docs(1)[0])
        raise RuntimeError("the shard failed")
    assert not storage.exists(url2)
    assert not os.path.exists(w2._file.tmp)  # the local temporary file is gone too


def test_s3_reads_stream_in_blocks(s3_bucket):
    """A large object is read block by block: the first record comes back having fetched a few MB."""
    url = f"{s3_bucket}/big.jsonl"
    write_jsonl((Document(id=str(i), text="x" * 1000) for i in range(30_000)), url)  # ~31 MB
    fh = storage.open_input(url)
    first = fh.readline()
    assert json.loads(first)["id"] == "0"
    assert fh.raw.cache.total_requested_bytes < 10 << 20 < storage.getsize(url)
    fh.close()


def test_pipeline_state_lives_beside_the_output(store):
    src = storage.join(store, "in")
    for k in range(3):
        write_jsonl(docs(20, f"s{k}") + docs(5, "dup"), storage.join(src, f"part-{k}.jsonl"))
    pipe = Pipeline(
        [LengthFilter(min_words=4), ExactDedup()],
        reader=JsonlReader(paths=src, record_type="document"),
        writer=Writer(format="jsonl"),
    )
    out = storage.join(store, "run")
    result = pipe.run(out, workers=1)
    # per shard 3 of 20 rows have 3 words (dropped) and 1 of the 5 shared rows; the 4 others are kept once
    assert result.records_out == 3 * 17 + 4
    assert storage.exists(storage.join(out, "manifest.json"))
    assert storage.read_json(result.manifest_path)["output"]["records"] == result.records_out
    assert storage.listdir(storage.join(out, "data")) == [f"part-{k:05d}.jsonl" for k in range(3)]
    assert {"run.json", "done"} <= set(storage.listdir(storage.join(out, ".datamill")))
    assert not storage.exists(storage.join(out, ".datamill", "work"))
    again = pipe.run(out, workers=1)  # every shard has its completion marker: nothing reruns
    assert again.skipped_shards == 3 * 2 and again.records_out == result.records_out


def test_memory_store_needs_one_process(mem):
    write_jsonl(docs(3), f"{mem}/in/a.jsonl")
    pipe = Pipeline([LengthFilter()], reader=JsonlReader(paths=f"{mem}/in"))
    with pytest.raises(ConfigError, match="memory:// storage is this process's own"):
        pipe.run(f"{mem}/out", workers=2)


def test_unknown_protocol_and_missing_file():
    with pytest.raises(ConfigError, match="unknown storage protocol"):
        expand_paths("nosuchproto://x/y.jsonl")
    with pytest.raises(InputError, match="no such file"):
        list(read_records("memory://nowhere/x.jsonl"))


def test_hf_datasets_folder_on_a_store(store):
    from datamill.io import write_records
    from datamill.pipeline import HFReader

    url = storage.join(store, "hf", "ds")
    assert write_records(docs(7), url) == 7  # Dataset.save_to_disk through fsspec
    reader = HFReader(paths=url, record_type="document", shard_size=4)
    assert reader.shards() == [f"{url}#0:4", f"{url}#4:7"]
    assert [d.text for d in reader.read()] == [d.text for d in docs(7)]

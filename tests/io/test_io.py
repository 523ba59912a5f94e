import gzip
import json
import os

import pytest

from datamill.errors import InputError
from datamill.io import (
    ErrorPolicy,
    Quarantine,
    iter_jsonl,
    read_records,
    to_hf_dataset,
    write_hf,
    write_jsonl,
    write_parquet,
    write_records,
)
from datamill.io.hf import iter_hf
from datamill.pipeline import HFReader
from datamill.records import Document, Example, Message


def read_records_hf(path):
    reader = HFReader(paths=str(path), shard_size=10)
    assert len(reader.shards()) == 3
    return reader.read()


DOCS = [Document(text=f"document {i}", metadata={"n": i, "tags": ["a", "b"]}) for i in range(25)]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet"])
def test_write_then_read_is_lossless(tmp_path, suffix):
    path = tmp_path / f"docs{suffix}"
    assert write_records(DOCS, path) == 25
    back = list(read_records(path))
    assert [d.text for d in back] == [d.text for d in DOCS]
    assert [d.metadata for d in back] == [d.metadata for d in DOCS]
    assert back[3].provenance.source == str(path) and back[3].provenance.line == 4


def test_writers_are_deterministic(tmp_path):
    for suffix in (".jsonl.gz", ".jsonl.zst", ".parquet"):
        a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        write_records(DOCS, a)
        write_records(DOCS, b)
        assert a.read_bytes() == b.read_bytes(), suffix


def test_mixed_structured_records_in_parquet(tmp_path):
    ex = [
        Example(messages=[Message(role="user", content=f"q{i}")], output=f"a{i}", label=i % 2)
        for i in range(5)
    ]
    write_parquet(ex, tmp_path / "ex.parquet")
    back = list(read_records(tmp_path / "ex.parquet"))
    assert [b.to_dict() | {"provenance": {}} for b in back] == [e.to_dict() for e in ex]
    assert back[4].provenance.line == 5  # reading fills in where each record came from


def test_hf_datasets_in_and_out(tmp_path):
    ds = to_hf_dataset(DOCS)
    assert len(ds) == 25 and "text" in ds.column_names
    write_hf(DOCS, tmp_path / "ds")
    rows = [row for _, row in iter_hf(tmp_path / "ds")]
    assert rows[0]["text"] == "document 0" and rows[0]["metadata"] == {"n": 0, "tags": ["a", "b"]}
    back = list(read_records_hf(tmp_path / "ds"))
    assert [d.to_dict() | {"provenance": {}} for d in back] == [d.to_dict() for d in DOCS]
    plain = __import__("datasets").Dataset.from_dict({"text": ["x", "y"], "lang": ["en", "fr"]})
    assert [r for _, r in iter_hf(plain)] == [{"text": "x", "lang": "en"}, {"text": "y", "lang": "fr"}]


def test_globs_and_folders(tmp_path):
    for i in range(3):
        write_jsonl(DOCS[i * 5 : (i + 1) * 5], tmp_path / "shards" / f"part-{i}.jsonl.gz")
    assert len(list(read_records(tmp_path / "shards"))) == 15
    assert len(list(read_records(str(tmp_path / "shards" / "part-*.jsonl.gz")))) == 15
    with pytest.raises(InputError, match="no file matches"):
        list(read_records(str(tmp_path / "nothing-*.jsonl")))


def test_foreign_rows_become_documents(tmp_path):
    p = tmp_path / "wiki.jsonl"
    p.write_text(json.dumps({"id": 7, "body": "hello", "title": "T"}) + "\n")
    (doc,) = read_records(p, text_field="body")
    assert doc.id == "7" and doc.text == "hello" and doc.metadata == {"title": "T"}
    with pytest.raises(InputError, match=r"wiki.jsonl:1: row has no 'text' field"):
        list(read_records(p))


# -- the malformed-input corpus -----------------------------------------------------------------


@pytest.fixture()
def bad_corpus(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    good = b'{"text": "fine"}\n'
    # 1. truncated gzip: 3 good lines then the stream stops mid-member
    full = gzip.compress(
        b"".join(b'{"text": "line %d of a longer shard %x"}\n' % (i, i * 7919) for i in range(200))
    )
    (d / "a_truncated.jsonl.gz").write_bytes(full[: len(full) // 2])
    # 2. invalid UTF-8 on line 2
    (d / "b_utf8.jsonl").write_bytes(good + b'{"text": "caf\xe9"}\n' + good)
    # 3. not JSON on line 3
    (d / "c_json.jsonl").write_bytes(good + good + b"{text: oops\n" + good)
    # 4. wrong type: text is a number on line 1; a JSON array on line 2
    (d / "d_type.jsonl").write_bytes(b'{"text": 42}\n[1, 2]\n' + good)
    # 5. empty file
    (d / "e_empty.jsonl").write_bytes(b"")
    # 6. one 50 MB line followed by a good one
    big = b'{"text": "' + b"x" * (50 * 1024 * 1024) + b'"}\n'
    (d / "f_huge.jsonl").write_bytes(big + good)
    return d


@pytest.mark.parametrize(
    "name, where, reason",
    [
        ("a_truncated.jsonl.gz", None, "gzip stream is truncated"),
        ("b_utf8.jsonl", 2, "invalid UTF-8"),
        ("c_json.jsonl", 3, "not valid JSON"),
        ("d_type.jsonl", 1, "text' must be a string"),
        ("e_empty.jsonl", 0, "file is empty"),
        ("f_huge.jsonl", 1, "over max_line_bytes"),
    ],
)
def test_malformed_input_raises_with_file_and_line(bad_corpus, name, where, reason):
    with pytest.raises(InputError, match=reason) as info:
        list(read_records(bad_corpus / name))
    err = info.value
    assert err.path == str(bad_corpus / name)
    if where is not None:
        assert err.line == where
        assert f"{name}:{where}: " in str(err)
    else:
        assert err.line is not None and err.line > 1


def test_malformed_input_quarantined_with_exact_counts(bad_corpus, tmp_path):
    qpath = tmp_path / "quarantine.jsonl"
    q = Quarantine(qpath)
    docs = list(read_records(bad_corpus, on_error="quarantine", quarantine=q))
    q.close()
    assert dict(q.counts) == {
        "truncated_stream": 1,
        "invalid_utf8": 1,
        "invalid_json": 1,
        "bad_record": 2,
        "empty_file": 1,
        "line_too_long": 1,
    }
    # every good line is kept: 2 + 3 + 1 + 0 + 1 = 7 from the plain files, plus every line of the
    # truncated gzip that decompresses before the cut (all but the last, possibly partial, one)
    from_gz = [d for d in docs if d.provenance.source.endswith(".gz")]
    assert len(docs) - len(from_gz) == 7
    assert 50 < len(from_gz) < 200
    entries = [json.loads(line) for line in qpath.read_text().splitlines()]
    assert len(entries) == 7
    huge = next(e for e in entries if e["kind"] == "line_too_long")
    assert huge["raw_size"] == 50 * 1024 * 1024 + 13 and huge["raw_truncated"] and len(huge["raw"]) == 4096


def test_huge_line_is_read_with_bounded_memory(bad_corpus):
    import tracemalloc

    tracemalloc.start()
    policy = ErrorPolicy("quarantine")
    rows = list(iter_jsonl(bad_corpus / "f_huge.jsonl", policy=policy, max_line_bytes=1024 * 1024))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(rows) == 1 and policy.quarantine.counts["line_too_long"] == 1
    assert peak < 16 * 1024 * 1024


def test_nothing_is_silently_dropped_in_quarantine_mode(tmp_path):
    p = tmp_path / "mix.jsonl"
    lines = [b'{"text": "ok"}'] * 10 + [b"garbage"] * 4 + [b'{"text": 1}'] * 3
    p.write_bytes(b"\n".join(lines) + b"\n")
    q = Quarantine()
    out = list(read_records(p, on_error="quarantine", quarantine=q))
    assert len(out) + q.total == len(lines)
    assert os.path.getsize(p) > 0


def test_a_writer_removes_temp_files_a_killed_process_left(tmp_path):
    import socket
    import subprocess
    import sys

    from datamill.io import write_records
    from datamill.records import Document

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "docs.jsonl"
    host = socket.gethostname()
    stale = tmp_path / f"docs.jsonl.tmp-{host}-{dead.pid}"
    stale.write_text('{"half": ')
    alive = tmp_path / f"docs.jsonl.tmp-{host}-{os.getppid()}"  # a live process's file is left alone
    alive.write_text("")
    elsewhere = tmp_path / f"docs.jsonl.tmp-another-node-{dead.pid}"  # another machine's, on shared storage
    elsewhere.write_text("")
    write_records([Document(text="a")], out)
    assert not stale.exists() and alive.exists() and elsewhere.exists() and out.exists()


def test_nested_metadata_objects_are_flattened_into_document_metadata():
    from datamill.io.adapt import to_record

    doc = to_record(
        {"id": "d1", "text": "bonjour", "source": "cc", "metadata": {"lang": "fr", "url": "http://x"}}
    )
    assert doc.metadata == {"source": "cc", "lang": "fr", "url": "http://x"}
    clash = to_record(
        {"text": "t", "lang": "en", "metadata": {"lang": "fr"}}
    )  # kept whole: nothing overwritten
    assert clash.metadata == {"lang": "en", "metadata": {"lang": "fr"}}


def test_json_array_files_stream_their_elements(tmp_path):
    import gzip

    from datamill.errors import InputError
    from datamill.io import iter_jsonl

    rows = [
        {
            "instruction": "Give three tips for staying healthy.",
            "input": "",
            "output": "1. Eat well.\n2. Sleep.",
        },
        {"instruction": "Translate 'été' to English.", "input": "", "output": "summer"},
    ]
    path = tmp_path / "alpaca_data.json"
    path.write_text(
        json.dumps(rows, indent=4, ensure_ascii=False), encoding="utf-8"
    )  # as Stanford Alpaca ships it
    got = list(iter_jsonl(path))
    assert [v for _, _, v in got] == rows
    assert [line for line, _, _ in got] == [2, 7]  # the line each element starts on
    data = path.read_bytes()
    assert data[got[1][1] : got[1][1] + 1] == b"{"  # byte offsets point at the element
    gz = tmp_path / "sharegpt.json.gz"
    gz.write_bytes(gzip.compress(json.dumps(rows).encode()))
    assert [v for _, _, v in iter_jsonl(gz)] == rows
    bad = tmp_path / "bad.json"
    bad.write_text('[\n  {"a": 1},\n  {"a": oops}\n]')
    with pytest.raises(InputError) as err:
        list(iter_jsonl(bad))
    assert err.value.line == 3 and "element 2" in str(err.value)
    open_ended = tmp_path / "cut.json"
    open_ended.write_text('[{"a": 1}, {"a": 2}')
    with pytest.raises(InputError, match="not closed"):
        list(iter_jsonl(open_ended))
    # a .jsonl file whose lines are arrays stays JSON Lines
    lines = tmp_path / "lists.jsonl"
    lines.write_text("[1, 2]\n[3]\n")
    assert [v for _, _, v in iter_jsonl(lines)] == [[1, 2], [3]]

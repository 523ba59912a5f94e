"""Chunks carry their document's metadata; an index filters on it (API and CLI); an unknown key is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import datamill
from datamill.cli.main import app
from datamill.errors import ConfigError
from datamill.incontext import build_index, chunk_document, load_index
from datamill.records import Document

runner = CliRunner()

TEXT = "The cat sat on the mat. " * 20


def test_chunks_carry_all_document_metadata_and_keep_their_own_keys():
    doc = Document(
        id="d1",
        text=TEXT,
        metadata={
            "lang": "en",
            "category": "pets",
            "year": 2020,
            "tags": ["a", "b"],
            "doc_id": "not-the-id",
            "start": -1,
        },
    )
    chunks = chunk_document(doc, method="sentences", max_tokens=16, overlap=0)
    assert len(chunks) > 2
    for i, c in enumerate(chunks):
        assert (
            c.metadata["category"] == "pets"
            and c.metadata["year"] == 2020
            and c.metadata["tags"] == ["a", "b"]
        )
        assert c.metadata["doc_id"] == "d1" and c.metadata["chunk_index"] == i  # the chunk's own keys win
        assert c.text == doc.text[c.metadata["start"] : c.metadata["end"]]
    assert doc.metadata["start"] == -1  # the document is left as it was


DOCS = [
    Document(
        id="en1",
        text="Paris is the capital and largest city of France.",
        metadata={"lang": "en", "year": 2020, "url": "https://en.example/paris"},
    ),
    Document(
        id="en2",
        text="The cat sleeps on the warm mat in Paris.",
        metadata={"lang": "en", "year": 2021, "url": "https://en.example/cat"},
    ),
    Document(
        id="fr1",
        text="Paris est la capitale de la France. Le chat dort.",
        metadata={"lang": "fr", "year": 2020, "url": "https://fr.example/paris"},
    ),
]


def _chunks():
    return [c for d in DOCS for c in chunk_document(d, method="sentences", max_tokens=32, overlap=0)]


def test_search_filters_on_document_metadata_after_save_and_load(tmp_path):
    build_index(_chunks(), tmp_path / "ix", kind="bm25")
    idx = load_index(tmp_path / "ix")
    assert {h.chunk.metadata["doc_id"] for h in idx.search("Paris", k=10, filters={"lang": "fr"})} == {"fr1"}
    assert {h.chunk.metadata["doc_id"] for h in idx.search("Paris", k=10, filters={"year": "2020"})} == {
        "en1",
        "fr1",
    }
    assert {h.chunk.metadata["doc_id"] for h in idx.search("Paris", k=10, filters={"year": 2021})} == {"en2"}
    hits = idx.search("Paris", k=10, filters={"url": ["https://en.example/cat", "https://fr.example/paris"]})
    assert {h.chunk.metadata["doc_id"] for h in hits} == {"en2", "fr1"}
    assert idx.search("Paris", k=10, filters={"lang": "de"}) == []
    assert idx.metadata_values("lang") == {"en": 2, "fr": 1}


@pytest.mark.parametrize("recorded", [True, False])
def test_a_filter_on_a_key_no_chunk_has_is_an_error_naming_the_keys(tmp_path, recorded):
    build_index(_chunks(), tmp_path / "ix", kind="bm25")
    if not recorded:  # an index saved before the keys were recorded in index.json
        meta = json.loads((tmp_path / "ix" / "index.json").read_text())
        del meta["metadata_keys"]
        (tmp_path / "ix" / "index.json").write_text(json.dumps(meta))
    idx = load_index(tmp_path / "ix")
    with pytest.raises(
        ConfigError, match=r"no chunk has metadata key 'language'; the chunks have: .*doc_id.*lang.*url"
    ):
        idx.search("Paris", k=3, filters={"language": "en"})
    idx.add([Document(text="Berlin is the capital of Germany.", metadata={"language": "de"})])
    assert [h.chunk.text for h in idx.search("Berlin", k=3, filters={"language": "de"})] == [
        "Berlin is the capital of Germany."
    ]


def _write_docs(path: Path) -> None:
    path.write_text("".join(json.dumps({"id": d.id, "text": d.text, **d.metadata}) + "\n" for d in DOCS))


def test_cli_chunk_index_search_filter(tmp_path):
    _write_docs(tmp_path / "docs.jsonl")
    res = runner.invoke(
        app,
        [
            "incontext",
            "chunk",
            str(tmp_path / "docs.jsonl"),
            "-o",
            str(tmp_path / "ch.jsonl"),
            "--method",
            "sentences",
            "--max-tokens",
            "32",
            "--overlap",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["incontext", "index", str(tmp_path / "ch.jsonl"), "-o", str(tmp_path / "ix"), "--bm25"]
    )
    assert res.exit_code == 0, res.output
    search = ["incontext", "search", str(tmp_path / "ix"), "Paris", "-k", "10", "--json"]
    res = runner.invoke(app, [*search, "--filter", "lang=en"])
    assert res.exit_code == 0, res.output
    hits = json.loads(res.output)
    assert hits and {h["metadata"]["doc_id"] for h in hits} == {"en1", "en2"}
    res = runner.invoke(app, [*search, "--filter", "year=2020", "--filter", "url=https://fr.example/paris"])
    assert {h["metadata"]["doc_id"] for h in json.loads(res.output)} == {"fr1"}
    res = runner.invoke(
        app, [*search, "--filter", "lang=de", "--filter", "lang=fr"]
    )  # a repeated key: any of
    assert {h["metadata"]["doc_id"] for h in json.loads(res.output)} == {"fr1"}

    res = runner.invoke(app, [*search, "--filter", "language=en"])
    assert res.exit_code != 0
    assert "no chunk has metadata key 'language'" in str(res.exception) and "lang, " in str(res.exception)
    res = runner.invoke(app, [*search, "--filter", "lang=de"])
    assert res.exit_code == 1 and "no chunk has lang=de" in res.output and "en (" in res.output
    res = runner.invoke(app, [*search, "--filter", "lang"])
    assert res.exit_code != 0 and "filters: key=value expected" in str(res.exception)


def test_cli_search_filter_on_the_shipped_sample_docs(tmp_path):
    sample = Path(datamill.__file__).parent / "data" / "sample_docs"
    res = runner.invoke(
        app,
        [
            "incontext",
            "index",
            str(sample),
            "-o",
            str(tmp_path / "ix"),
            "--bm25",
            "--chunk",
            "sentences",
            "--on-error",
            "quarantine",
            "--quarantine",
            str(tmp_path / "q.jsonl"),
        ],
    )
    assert res.exit_code == 0, res.output
    search = ["incontext", "search", str(tmp_path / "ix"), "Indonesia football", "-k", "5", "--json"]
    for source in ("common-crawl", "self-instruct"):
        res = runner.invoke(app, [*search, "--filter", f"source={source}"])
        assert res.exit_code == 0, res.output
        hits = json.loads(res.output)
        assert hits and all(h["metadata"]["source"] == source and h["metadata"]["url"] for h in hits)
    url = json.loads(runner.invoke(app, search).output)[0]["metadata"]["url"]
    res = runner.invoke(app, [*search, "--filter", f"url={url}"])
    assert json.loads(res.output) and all(h["metadata"]["url"] == url for h in json.loads(res.output))

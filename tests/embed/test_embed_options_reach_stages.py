"""The embedding options (backend, quantize, max_seq_length) reach the model from dense and hybrid
indexes, saved with them, and from `datamill incontext index`, whose flags are named as the parameters."""

import json

import pytest
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.errors import ConfigError
from datamill.incontext import build_index, load_index
from datamill.records import Document

runner = CliRunner()
DOCS = [
    Document(text="Paris is the capital of France.", id="a"),
    Document(text="The cat sleeps on the mat.", id="b"),
]


def test_dense_and_hybrid_indexes_pass_max_seq_length_to_the_embedder(tmp_path):
    dense = build_index(DOCS, tmp_path / "d", kind="dense", backend="onnx", max_seq_length=128)
    emb = dense._embedder()
    assert (emb.backend, emb.max_seq_length) == ("onnx", 128)
    again = load_index(tmp_path / "d")._embedder()
    assert again is emb
    hybrid = build_index(DOCS, kind="hybrid", dense={"backend": "onnx", "max_seq_length": 128})
    assert hybrid.dense._embedder() is emb
    assert build_index(DOCS, kind="dense", backend="onnx")._embedder().max_seq_length == 256


def test_cli_index_takes_backend_quantize_and_max_seq_length(tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in DOCS))
    args = ["incontext", "index", str(docs), "-o", str(tmp_path / "ix"), "--dense"]
    res = runner.invoke(app, [*args, "--backend", "onnx", "--max-seq-length", "128"])
    assert res.exit_code == 0, res.output
    params = json.loads((tmp_path / "ix" / "index.json").read_text())["params"]
    assert (params["backend"], params["max_seq_length"]) == ("onnx", 128)
    assert load_index(tmp_path / "ix")._embedder().max_seq_length == 128
    res = runner.invoke(app, [*args[:-1], "--bm25", "--max-seq-length", "128"])
    assert isinstance(res.exception, ConfigError) and "--max-seq-length" in str(res.exception)


def test_cli_index_runs_openvino(tmp_path):
    pytest.importorskip("openvino")
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in DOCS))
    out = tmp_path / "ix"
    res = runner.invoke(app, ["incontext", "index", str(docs), "-o", str(out), "--backend", "openvino"])
    assert res.exit_code == 0, res.output
    idx = load_index(out)
    assert idx.dense._embedder().backend == "openvino"
    assert idx.search("capital of France", k=1)[0].chunk.id == "a"

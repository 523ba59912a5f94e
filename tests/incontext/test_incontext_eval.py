import json
import subprocess
import sys
from importlib import resources

import pytest

from datamill.errors import InputError
from datamill.incontext import build_index, evaluate_retrieval, evaluate_selection, load_beir
from datamill.records import Document, Example

BEIR = str(resources.files("datamill") / "data" / "beir_selfinstruct")


@pytest.fixture(scope="module")
def result():
    return evaluate_retrieval(BEIR)


def test_shipped_beir_set_loads():
    data = load_beir(BEIR)
    assert len(data.corpus) == 175 and len(data.queries) == 175 and len(data.qrels) == 175


def test_hybrid_beats_bm25_and_dense(result):
    t = result.table
    assert t["hybrid"]["ndcg@10"] > t["dense"]["ndcg@10"] > t["bm25"]["ndcg@10"] > 0.8
    assert result.best("ndcg@10") == "hybrid"
    assert set(result.per_query["bm25"]) == set(load_beir(BEIR).qrels)


@pytest.mark.slow
def test_rrf_fusion_is_available_too():
    r = evaluate_retrieval(BEIR, kinds=("bm25", "hybrid"), index_params={"hybrid": {"fusion": "rrf"}})
    assert r.table["hybrid"]["ndcg@10"] > r.table["bm25"]["ndcg@10"]


def test_bad_beir_folders(tmp_path):
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n{"title": "no id"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n')
    with pytest.raises(InputError, match=r"corpus.jsonl:2: corpus rows need '_id'"):
        load_beir(tmp_path)
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n')
    with pytest.raises(InputError, match="no qrels for split 'test'"):
        load_beir(tmp_path)


def test_eval_cli_prints_one_comparison_table(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "datamill.cli.main",
            "incontext",
            "eval",
            BEIR,
            "--kinds",
            "bm25",
            "--per-query",
            str(tmp_path / "pq.jsonl"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["queries"] == 175 and 0.8 < out["table"]["bm25"]["ndcg@10"] < 1
    assert len((tmp_path / "pq.jsonl").read_text().splitlines()) == 175


def test_selection_evaluation_hook():
    pool = [Example(input=f"{a} + {b}", output=str(a + b)) for a in range(5) for b in range(5)]
    evals = [Example(input="2 + 2", output="4"), Example(input="1 + 3", output="4")]

    def model(query, shots):  # a "model" that copies the answer of the most similar shot
        return shots[0].output if shots else ""

    scores = {
        s.strategy: s.accuracy
        for s in evaluate_selection(pool, evals, model, k=2, strategies=("knn", "random"))
    }
    assert scores["knn"] >= scores["random"] and set(scores) == {"knn", "random"}


def test_http_server_search_and_pack(tmp_path):
    from fastapi.testclient import TestClient

    from datamill.incontext.serve import create_app

    build_index(
        [Document(text="Refunds are accepted within 30 days."), Document(text="Shipping takes 3 days.")],
        tmp_path / "ix",
        kind="bm25",
    )
    client = TestClient(create_app(tmp_path / "ix"))
    assert client.get("/health").json()["chunks"] == 2
    hits = client.post("/search", json={"query": "refund window", "k": 1}).json()["hits"]
    assert hits[0]["text"].startswith("Refunds")
    packed = client.post("/pack", json={"question": "How long do refunds take?", "budget": 64}).json()
    assert packed["tokens"] <= 64 and "Refunds" in packed["text"]
    assert client.post("/search", json={"query": ""}).status_code == 422
    assert "/search" in client.get("/openapi.json").json()["paths"]


def test_get_search_and_cli_pack_take_filters(tmp_path):
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from datamill.cli.main import app
    from datamill.incontext.serve import create_app

    build_index(
        [
            Document(text="Refunds are accepted within 30 days.", metadata={"lang": "en"}),
            Document(
                text="Les remboursements sont acceptés sous 30 jours. Refunds.", metadata={"lang": "fr"}
            ),
        ],
        tmp_path / "ix",
        kind="bm25",
    )
    client = TestClient(create_app(tmp_path / "ix"))
    hits = client.get("/search", params={"q": "refunds", "k": 5, "filter": "lang=fr"}).json()["hits"]
    assert [h["metadata"]["lang"] for h in hits] == ["fr"]  # GET ignored filters before
    bad = client.get("/search", params={"q": "refunds", "filter": "nosuchkey=1"})
    assert bad.status_code == 400 and "nosuchkey" in bad.json()["error"]
    out = CliRunner().invoke(
        app, ["incontext", "pack", str(tmp_path / "ix"), "refunds", "--filter", "lang=fr", "--json"]
    )
    assert out.exit_code == 0, out.output
    packed = out.output
    assert "remboursements" in packed and "accepted within" not in packed

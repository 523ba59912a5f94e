"""RAG answers judged by the offline fake teacher against hand-labelled faithful/unfaithful answers."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from datamill.errors import ConfigError, InputError
from datamill.incontext import judge_answers, read_rag_rows
from datamill.incontext.judge import _average_precision
from datamill.synthetic import FakeServer


@pytest.fixture(scope="module")
def server():
    with FakeServer(latency=0.0) as s:
        yield s


@pytest.fixture(scope="module")
def labelled(sample_data):
    path = sample_data / "incontext" / "rag_answers_labelled.jsonl"
    return path, [json.loads(line) for line in path.read_text().splitlines()]


def test_faithfulness_separates_the_hand_labels(server, labelled, tmp_path):
    path, rows = labelled
    handoff = tmp_path / "handoff.jsonl"
    report = judge_answers(
        path,
        server.url,
        model="fake-teacher",
        metrics=["faithfulness"],
        cache=str(tmp_path / "cache.sqlite"),
        detector="rules",
        handoff=handoff,
    )
    by_id = {s.id: s for s in report.scores}
    for row in rows:
        s = by_id[row["id"]]
        if row["label"] == "faithful":
            assert s.faithfulness == 1.0, (row["id"], s.statements)
        else:
            assert s.faithfulness is not None and s.faithfulness < 0.5, (row["id"], s.statements)
            assert s.cause == row["cause"], (row["id"], s.contradictions)
    bad = {r["id"] for r in rows if r["label"] == "unfaithful"}
    assert {s.id for s in report.unfaithful()} == bad
    summary = report.summary()
    assert summary["unfaithful"] == len(bad) and summary["contradictory_context"] == 2
    # the hand-off is read by datamill diagnose as wrong results with their contexts
    from datamill.diagnose import read_results

    items = read_results(handoff)
    assert {x.id for x in items} == bad and all(not x.correct and x.contexts for x in items)
    # a rerun is served from the cache: no new requests, same scores
    again = judge_answers(
        path,
        server.url,
        model="fake-teacher",
        metrics=["faithfulness"],
        cache=str(tmp_path / "cache.sqlite"),
        detector="rules",
    )
    assert again.usage["requests"] == 0 and again.usage["cache_hits"] == report.usage["requests"]
    assert [s.faithfulness for s in again.scores] == [s.faithfulness for s in report.scores]


class _Words:
    """A bag-of-words embedder (hashing): keeps the test free of the MiniLM load."""

    def encode(self, texts, batch_size=64):
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().replace("?", " ").split():
                out[i, zlib.crc32(w.encode()) % 64] += 1
        return out


def test_context_precision_recall_and_relevance(server, labelled):
    path, rows = labelled
    report = judge_answers(
        path, server.url, model="fake-teacher", cache=None, detector="rules", embedder=_Words()
    )
    by_id = {s.id: s for s in report.scores}
    # the useful passage ranked second scores 1/2, ranked first 1
    assert by_id["shop-ok"].useful == [0, 1] and by_id["shop-ok"].context_precision == 0.5
    assert by_id["museum-ok"].context_precision == 1.0
    # the ground truth is in the context: recall 1
    assert by_id["warranty-ok"].context_recall == 1.0
    rel = {s.id: s.answer_relevance for s in report.scores}
    assert all(r is not None and -1 <= r <= 1 for r in rel.values())
    # questions written for an on-topic answer are closer to the question than for an off-topic one;
    # "I don't know" is noncommittal: 0
    q, ctx = rows[0]["question"], rows[0]["contexts"]
    answers = [rows[0]["answer"], "Our support team answers tickets on weekdays.", "I don't know."]
    rel = judge_answers(
        [{"question": q, "answer": a, "contexts": ctx} for a in answers],
        server.url,
        model="fake-teacher",
        cache=None,
        metrics=["answer_relevance"],
        embedder=_Words(),
    ).scores
    assert rel[0].answer_relevance > rel[1].answer_relevance and rel[2].answer_relevance == 0.0
    s = report.summary()
    assert s["answers"] == len(rows) and s["faithfulness_scored"] == len(rows)
    assert report.usage["requests"] > 0 and report.usage["cost_usd"] == 0


def test_average_precision_and_inputs():
    assert _average_precision([1, 0, 1]) == pytest.approx((1 + 2 / 3) / 2)
    assert _average_precision([0, 0]) == 0.0
    rows = read_rag_rows([{"input": "q?", "output": "a.", "context": "c.", "reference": "r."}])
    assert rows == [{"id": "1", "question": "q?", "answer": "a.", "contexts": ["c."], "ground_truth": "r."}]
    with pytest.raises(InputError, match="question"):
        read_rag_rows([{"answer": "a", "contexts": []}])
    with pytest.raises(ConfigError, match="metrics"):
        judge_answers([], "http://127.0.0.1:9/v1", model="x", metrics=["bleu"])

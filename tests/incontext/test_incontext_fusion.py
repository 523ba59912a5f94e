"""The hybrid's fusion weight estimated per corpus from pseudo-queries (alpha="auto"), without labels."""

import hashlib
import random

import numpy as np
import pytest

from datamill.incontext import HybridIndex, build_index, estimate_fusion, load_index
from datamill.incontext.dense import DenseIndex
from datamill.incontext.hybrid import FALLBACK_ALPHA, MIN_PSEUDO, pseudo_queries
from datamill.records import Document

WORDS = [f"{a}{b}{c}" for a in "bdfgklmprstvz" for b in "aeiou" for c in ("n", "r", "s", "x")]


def _corpus(n: int = 60, seed: int = 0) -> list[Document]:
    """Documents of three sentences of made-up words, each document on its own topic (its sentences
    drawn from the same ten words): BM25 matches them exactly."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        topic = rng.sample(WORDS, 10)
        text = " ".join(" ".join(rng.sample(topic, 6)).capitalize() + "." for _ in range(3))
        docs.append(Document(id=f"d{i}", text=text))
    return docs


class _NoiseEmbedder:
    """A dense model that knows nothing: a fixed random unit vector per text (its scores are noise)."""

    dim = 32

    def encode(self, texts, **_):  # noqa: ANN001, ANN202
        out = np.stack(
            [
                np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little"))
                .standard_normal(self.dim)
                .astype(np.float32)
                for t in texts
            ]
        )
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def noise_dense(monkeypatch):
    monkeypatch.setattr(DenseIndex, "_embedder", lambda self: _NoiseEmbedder())


def test_pseudo_queries_are_a_sentence_taken_out_of_a_chunk():
    docs = _corpus(30)
    pq = pseudo_queries(docs, 10)
    assert len(pq) == 10 and len({i for i, _, _ in pq}) == 10
    for i, query, rest in pq:
        assert query in docs[i].text and query not in rest and len(rest) >= 20
    assert pseudo_queries([Document(id="a", text="One short line only.")]) == []


def test_auto_alpha_moves_to_bm25_when_dense_is_noise_and_ranks_the_right_chunk_first(noise_dense, tmp_path):
    docs = _corpus()
    idx = HybridIndex(docs)
    assert idx.params["alpha"] == "auto"
    est = estimate_fusion(idx)
    assert est.source == "pseudo-queries" and est.queries == len(docs) and est.alpha <= 0.3
    assert est.tried["weighted alpha=0.0"] > est.tried["weighted alpha=0.9"]
    # a query whose words are in one chunk only: BM25 is right, the noise dense model is not
    target = docs[17]
    query = target.text.split(".")[1]
    assert idx.search(query, 1)[0].id == target.id
    fixed = HybridIndex.of(idx.bm25, idx.dense, alpha=0.9)  # the former fixed default
    assert fixed.search(query, 1)[0].id != target.id
    # the estimate is saved with the index and not made again on load
    idx.save(tmp_path / "ix")
    loaded = load_index(tmp_path / "ix")
    assert isinstance(loaded, HybridIndex) and loaded.fusion_estimate == idx.fusion_estimate
    assert loaded.fusion_params()["alpha"] == est.alpha
    # building a saved index estimates it before saving: a process that loads it does not redo it
    built = build_index(docs, tmp_path / "built", kind="hybrid")
    assert isinstance(built, HybridIndex) and built.fusion_estimate == est
    assert (tmp_path / "built" / "fusion_estimate.json").exists()


def test_auto_alpha_stays_near_dense_when_dense_knows_better(monkeypatch):
    """The real model on the shipped self-instruct set, where dense is well ahead of BM25."""
    from importlib import resources

    from datamill.incontext import load_beir

    data = load_beir(resources.files("datamill") / "data" / "beir_selfinstruct")
    est = estimate_fusion(HybridIndex(data.corpus), apply=False)
    assert est.source == "pseudo-queries" and est.alpha >= 0.6


def test_too_few_pseudo_queries_fall_back_and_are_reestimated_when_the_corpus_grows(noise_dense):
    docs = _corpus(MIN_PSEUDO + 40)
    idx = HybridIndex(docs[: MIN_PSEUDO - 1])
    assert idx.fusion_params()["alpha"] == FALLBACK_ALPHA and idx.fusion_estimate.source == "fallback"
    idx.add(docs[MIN_PSEUDO - 1 :])
    assert idx.fusion_params()["alpha"] <= 0.3 and idx.fusion_estimate.source == "pseudo-queries"
    assert HybridIndex(docs, alpha=0.5).fusion_params()["alpha"] == 0.5  # a given alpha is kept
    rrf = HybridIndex(docs, fusion="rrf")
    assert rrf.fusion_params()["fusion"] == "rrf" and rrf.fusion_estimate is None  # RRF has no weight


class _FlatEmbedder:
    """A dense model that scores every chunk the same."""

    def encode(self, texts, **_):  # noqa: ANN001, ANN202
        return np.ones((len(texts), 8), np.float32) / np.sqrt(8)


def test_auto_alpha_leaves_the_ranking_to_bm25_when_dense_scores_are_flat(monkeypatch):
    monkeypatch.setattr(DenseIndex, "_embedder", lambda self: _FlatEmbedder())
    docs = _corpus()
    idx = HybridIndex(docs)
    est = estimate_fusion(idx)
    assert est.alpha < FALLBACK_ALPHA and est.tried["weighted alpha=1.0"] < est.score
    queries = [d.text.split(".")[0] for d in docs[:10]]
    hybrid = [h[0].id for h in idx.search_batch(queries, 1)]
    assert hybrid == [h[0].id for h in idx.bm25.search_batch(queries, 1)] == [d.id for d in docs[:10]]

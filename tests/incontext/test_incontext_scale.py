"""Dense HNSW past a threshold (recall against exact search), incremental add and delete without
re-embedding, and hybrid fusion tuned on dev queries (never the test ones)."""

import shutil
from importlib import resources

import numpy as np
import pytest

from datamill.errors import ConfigError
from datamill.incontext import (
    DenseIndex,
    HybridIndex,
    build_index,
    evaluate_retrieval,
    load_beir,
    load_index,
    tune_fusion,
)
from datamill.incontext.dense import _exact_top
from datamill.records import Document

BEIR = str(resources.files("datamill") / "data" / "beir_selfinstruct")


@pytest.fixture(scope="module")
def corpus():
    return load_beir(BEIR)


def test_exact_top_in_blocks_equals_a_full_sort():
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((1000, 8)).astype(np.float32)
    q = rng.standard_normal((3, 8)).astype(np.float32)
    got = _exact_top(vecs, q, 7, block=64)
    for row, sims in zip(got, q @ vecs.T, strict=True):
        assert [i for i, _ in row] == np.argsort(-sims, kind="stable")[:7].tolist()


def test_hnsw_search_agrees_with_exact_and_survives_save_load(corpus, tmp_path):
    idx = DenseIndex(corpus.corpus, ann_threshold=0)
    assert idx.uses_ann
    queries = list(corpus.queries.values())[:40]
    stats = idx.ann_recall(queries, 10)
    assert stats["recall@10"] >= 0.98 and stats["vectors"] == len(corpus.corpus)
    idx.save(tmp_path / "ix")
    assert (tmp_path / "ix" / "dense" / "hnsw.usearch").exists()
    loaded = load_index(tmp_path / "ix")
    assert isinstance(loaded, DenseIndex) and loaded._ann is not None  # the graph is loaded, not rebuilt
    assert [h.id for h in loaded.search(queries[0], 5)] == [h.id for h in idx.search(queries[0], 5)]


def test_add_and_delete_touch_only_what_changed(corpus, tmp_path, monkeypatch):
    docs = corpus.corpus
    idx = DenseIndex(docs[:100], ann_threshold=0)
    idx.ann_index()
    embedded: list[int] = []
    real = idx._embed
    monkeypatch.setattr(idx, "_embed", lambda chunks: embedded.append(len(chunks)) or real(chunks))
    idx.add(docs[100:120])
    assert embedded == [20] and len(idx) == 120 and len(idx._ann) == 120
    target = docs[110]
    assert idx.search(corpus.queries[target.id.replace("d", "q")], 1)[0].id == target.id
    assert idx.delete([target.id, docs[0].id]) == 2
    assert embedded == [20] and len(idx) == len(idx.vectors) == len(idx._ann) == 118
    hits = idx.search(corpus.queries[target.id.replace("d", "q")], 118)
    assert target.id not in {h.id for h in hits} and len(hits) == 118
    with pytest.raises(ConfigError, match="no chunk or document has id"):
        idx.delete(["nope"])
    idx.save(tmp_path / "ix")
    loaded = load_index(tmp_path / "ix")
    assert loaded.delete([docs[1].id]) == 1 and len(loaded) == 117
    assert docs[1].id not in {h.id for h in loaded.search("anything at all", 117)}


def test_delete_by_document_id_removes_its_chunks_from_a_loaded_hybrid(tmp_path):
    chunks = [
        Document(id=f"c{i}", text=t, metadata={"doc_id": f"doc{i // 2}"})
        for i, t in enumerate(["red apples", "green apples", "blue sky", "grey sky", "warm sun", "cold moon"])
    ]
    build_index(chunks, tmp_path / "h", kind="hybrid")
    idx = load_index(tmp_path / "h")
    assert idx.delete(["doc1"]) == 2
    assert [c.id for c in idx.chunks] == ["c0", "c1", "c4", "c5"]
    assert "sky" not in " ".join(h.chunk.text for h in idx.search("sky", 4))
    idx.add([Document(id="c9", text="a sky full of stars", metadata={"doc_id": "doc9"})])
    assert idx.search("stars in the sky", 1)[0].id == "c9"


def test_fusion_tuning_uses_dev_queries_and_reports_it(corpus, tmp_path):
    idx = HybridIndex(corpus.corpus)
    qids = sorted(corpus.qrels)[:60]
    tuned = tune_fusion(idx, corpus.queries, {q: corpus.qrels[q] for q in qids})
    assert tuned.queries == 60 and len(tuned.tried) == 13
    assert tuned.score == max(tuned.tried.values())
    assert idx.params["alpha"] == tuned.alpha and idx.params["fusion"] == tuned.fusion
    # a folder with a dev split: eval tunes on it, and the dev queries' labels alone decide
    folder = tmp_path / "beir"
    shutil.copytree(BEIR, folder)
    lines = (folder / "qrels" / "test.tsv").read_text().splitlines()
    (folder / "qrels" / "dev.tsv").write_text("\n".join(lines[:61]) + "\n")
    (folder / "qrels" / "test.tsv").write_text("\n".join([lines[0], *lines[61:]]) + "\n")
    result = evaluate_retrieval(folder)
    assert result.fusion["tuned_on"] == "dev" and result.fusion["dev_queries"] == 60
    assert result.queries == len(lines) - 61
    assert result.recommend() in result.table


def test_hybrid_options_are_checked():
    with pytest.raises(ConfigError, match="alpha must be in"):
        HybridIndex(alpha=1.5)
    with pytest.raises(ConfigError, match="dense= takes"):
        HybridIndex(dense={"k1": 1.2})
    with pytest.raises(ConfigError, match="ann_threshold"):
        DenseIndex(ann_threshold=-1)


def test_rebuilding_an_index_embeds_only_changed_chunks(monkeypatch):
    import uuid

    from datamill.embed import get_embedder

    emb = get_embedder()
    ran: list[str] = []
    real = emb._run
    monkeypatch.setattr(emb, "_run", lambda texts, **kw: ran.extend(texts) or real(texts, **kw))
    tag = uuid.uuid4().hex  # texts no earlier run has cached
    docs = [Document(id=f"d{i}", text=f"{tag} note number {i} about topic {i % 3}") for i in range(12)]
    first = build_index(docs, kind="dense")
    assert len(ran) == 12
    ran.clear()
    docs[3] = Document(id="d3", text=f"{tag} a rewritten note")
    again = build_index(docs, kind="dense")
    assert ran == [f"{tag} a rewritten note"]
    keep = [i for i in range(12) if i != 3]
    np.testing.assert_array_equal(np.asarray(again.vectors)[keep], np.asarray(first.vectors)[keep])
    DenseIndex(docs, cache=False)
    assert len(ran) == 1 + 12  # without the cache every chunk is embedded again


def test_cross_fitted_fusion_ranks_each_query_with_a_fusion_tuned_without_it(corpus):
    from datamill.incontext import cross_fit_fusion

    idx = HybridIndex(corpus.corpus)
    before = dict(idx.params)
    run, tunings = cross_fit_fusion(idx, corpus.queries, corpus.qrels, folds=3, k=20)
    assert set(run) == set(corpus.qrels) and all(len(r) == 20 for r in run.values())
    # each part was tuned on the other parts' queries only
    assert sorted(t.queries for t in tunings) == sorted(len(corpus.qrels) - n for n in _part_sizes(run, 3))
    assert idx.params == before
    with pytest.raises(ConfigError, match="folds must be"):
        cross_fit_fusion(idx, corpus.queries, corpus.qrels, folds=1)


def _part_sizes(run, folds):
    import zlib

    return [sum(1 for q in run if zlib.crc32(q.encode()) % folds == f) for f in range(folds)]


def test_eval_without_a_dev_split_adds_the_cross_fitted_hybrid(tmp_path):
    import gzip

    # a compressed corpus is read too
    folder = tmp_path / "beir"
    shutil.copytree(BEIR, folder)
    raw = (folder / "corpus.jsonl").read_bytes()
    (folder / "corpus.jsonl").unlink()
    (folder / "corpus.jsonl.gz").write_bytes(gzip.compress(raw))
    result = evaluate_retrieval(folder, kinds=("bm25", "dense", "hybrid"), folds=2)
    assert set(result.table) == {"bm25", "dense", "hybrid", "hybrid-tuned"}
    assert set(result.per_query["hybrid-tuned"]) == set(result.per_query["dense"])
    cf = result.fusion["cross_fitted"]
    assert cf["folds"] == 2 and len(cf["per_fold"]) == 2 and cf["all"]["fusion"] in ("weighted", "rrf")
    assert result.summary()[-1].startswith("use ")
    assert "hybrid-tuned" not in evaluate_retrieval(folder, kinds=("bm25", "dense", "hybrid"), folds=0).table


def test_hybrid_top_10_does_not_depend_on_how_many_are_asked_for(corpus):
    idx = HybridIndex(corpus.corpus)
    queries = list(corpus.queries.values())
    ten, hundred = idx.search_batch(queries, 10), idx.search_batch(queries, 100)
    assert [[h.id for h in r] for r in ten] == [[h.id for h in r[:10]] for r in hundred]

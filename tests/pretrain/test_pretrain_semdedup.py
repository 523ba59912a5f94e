"""Semantic dedup (SemDeDup): the clustering core, the global step across shards (local and Ray), and
planted paraphrases of real instructions that MinHash misses."""

from __future__ import annotations

import json
import os
import zlib

import numpy as np
import pytest
from paraphrase_corpus import corpus, scores, source_of

from datamill.errors import ConfigError
from datamill.pipeline import JsonlReader, Pipeline, Writer
from datamill.pretrain import MinhashDedup, SemanticDedup, dedup_pipeline
from datamill.pretrain.semdedup import _pair_task
from datamill.records import Document
from datamill.semdedup import kmeans, merge_pairs, semantic_duplicates


def lines(path) -> list[dict]:
    with open(path) as fh:
        return [json.loads(x) for x in fh]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def planted(n: int = 3000, dups: int = 60, noise: float = 0.2, seed: int = 0) -> np.ndarray:
    """``n`` random unit vectors, then ``dups`` near copies of the first ``dups`` (cosine about 0.98)."""
    rng = np.random.default_rng(seed)
    base = unit(rng.normal(size=(n, 64)))
    near = unit(base[:dups] + noise * unit(rng.normal(size=(dups, 64))))
    return np.vstack([base, near])


def brute_force(vecs: np.ndarray, threshold: float) -> np.ndarray:
    sims = vecs @ vecs.T
    i, j = np.nonzero(np.triu(sims >= threshold, 1))
    return merge_pairs(len(vecs), np.stack([i, j], 1), sims[i, j])[0]


def test_one_cluster_is_the_brute_force_rule_and_clusters_find_the_planted_copies():
    vecs = planted()
    exact = brute_force(vecs, 0.9)
    one = semantic_duplicates(vecs, threshold=0.9, cluster_size=len(vecs))
    assert one.clusters == 1 and np.array_equal(one.roots, exact)
    assert exact[3000:].tolist() == list(range(60))  # each copy goes back to its original
    many = semantic_duplicates(vecs, threshold=0.9, cluster_size=200, probes=2)
    assert many.clusters == 16 and many.duplicates == 60 and np.array_equal(many.roots, exact)
    assert (many.similarity[3000:] > 0.95).all() and (many.similarity[:3000] == 0).all()
    again = semantic_duplicates(vecs, threshold=0.9, cluster_size=200, probes=2)
    assert np.array_equal(again.roots, many.roots)  # seeded: the same clusters every time


def test_a_document_is_dropped_only_for_an_earlier_match_and_points_to_a_kept_one():
    # 0~2 (0.95), 1~2 (0.97), 2~3 (0.91), 1~4 (0.92): 2's best earlier match is 1; 3 goes back through 2 to 1
    pairs = np.array([[0, 2], [1, 2], [2, 3], [1, 4]])
    roots, best = merge_pairs(6, pairs, np.array([0.95, 0.97, 0.91, 0.92], np.float32))
    assert roots.tolist() == [0, 1, 1, 1, 1, 5]
    assert np.allclose(best, [0.0, 0.0, 0.97, 0.91, 0.92, 0.0])


def test_kmeans_is_seeded_and_finds_separated_blobs():
    rng = np.random.default_rng(1)
    centres = unit(rng.normal(size=(4, 32)))
    vecs = unit(np.repeat(centres, 50, axis=0) + 0.05 * rng.normal(size=(200, 32)))
    c = kmeans(vecs, 4, seed=3)
    assert np.allclose(c, kmeans(vecs, 4, seed=3))
    assert sorted((centres @ c.T).max(axis=1).round(2).tolist()) == [1.0] * 4 or (centres @ c.T).max() > 0.99


def bag_of_words(texts: list[str]) -> np.ndarray:
    """A stand-in embedder (hashed bag of words): texts with the same words in any order coincide."""
    out = np.zeros((len(texts), 256), np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i, zlib.crc32(w.encode()) % 256] += 1
    return unit(out + 1e-6)


def shuffled_corpus() -> list[Document]:
    rng = np.random.default_rng(5)
    vocab = [f"word{i}" for i in range(400)]
    docs = [Document(id=f"d{i}", text=" ".join(rng.choice(vocab, 40))) for i in range(60)]
    for k in range(0, 60, 6):  # the same words in another order: no 5-gram in common, same meaning here
        words = docs[k].text.split()
        rng.shuffle(words)
        docs.append(Document(id=f"shuffled-d{k}", text=" ".join(words)))
    return docs


def test_sharded_run_equals_the_in_memory_step_and_reports_beyond_minhash(tmp_path, monkeypatch):
    monkeypatch.setattr(SemanticDedup, "_embed", lambda self, texts: bag_of_words(texts))
    docs = shuffled_corpus()
    step = SemanticDedup(threshold=0.95, cluster_size=20, probes=2)
    in_memory = [d.id for d in step(list(docs))]
    assert sorted(set(d.id for d in docs) - set(in_memory)) == sorted(
        f"shuffled-d{k}" for k in range(0, 60, 6)
    )
    for i in range(3):
        with open(tmp_path / f"in-{i}.jsonl", "w") as fh:
            for d in docs[i::3]:
                fh.write(json.dumps({"id": d.id, "text": d.text}) + "\n")
    reader = JsonlReader(paths=[str(tmp_path / "in-*.jsonl")], record_type="document")
    pipe = Pipeline(
        [MinhashDedup(threshold=0.8), SemanticDedup(threshold=0.95, cluster_size=20, probes=2)],
        reader=reader,
        writer=Writer(format="jsonl"),
    )
    result = pipe.run(tmp_path / "out", workers=2)
    by = {g["step"]: g for g in result.manifest["global"]}
    assert by["pretrain.minhash_dedup"]["duplicates"] == 0  # shuffled words share no 5-gram
    assert by["pretrain.semantic_dedup"]["duplicates"] == 10 and by["pretrain.semantic_dedup"]["pair_engine"]
    side = tmp_path / "out" / "dedup"
    rows = [r for f in sorted(os.listdir(side)) if f.startswith("semantic") for r in lines(side / f)]
    assert sorted((r["id"], r["representative"]) for r in rows) == sorted(
        (f"shuffled-d{k}", f"d{k}") for k in range(0, 60, 6)
    )
    assert all(r["similarity"] > 0.99 for r in rows)
    kept = [r["id"] for f in result.files for r in lines(tmp_path / "out" / f)]
    assert sorted(kept) == sorted(in_memory)


@pytest.mark.ray
def test_pair_search_on_ray_gives_the_local_pairs(tmp_path, ray_local):
    from datamill.pipeline import make_executor

    vecs = planted(n=800, dups=30)
    for s, part in enumerate(np.array_split(vecs, 3)):
        np.save(tmp_path / f"emb-{s:05d}.npy", part)
        (tmp_path / f"ids-{s:05d}.json").write_text(
            json.dumps({"ids": [str(i) for i in range(len(part))], "seconds": 0})
        )
    step = SemanticDedup(threshold=0.9, cluster_size=100)
    local = step.reduce(workdir=str(tmp_path), num_shards=3)
    roots_local = [np.load(tmp_path / f"roots-{s:05d}.npy") for s in range(3)]
    ex = make_executor("ray", workers=2)
    try:
        on_ray = step.reduce(workdir=str(tmp_path), num_shards=3, executor=ex)
    finally:
        ex.close()
    assert on_ray["pair_engine"] == "ray_tasks" and local["pair_engine"] == "in_process"
    assert on_ray["duplicates"] == local["duplicates"] >= 25
    assert all(np.array_equal(a, np.load(tmp_path / f"roots-{s:05d}.npy")) for s, a in enumerate(roots_local))
    assert _pair_task(str(tmp_path), 0, 0.9)[0].shape[1] == 2


def test_options_that_do_nothing_are_errors(tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps({"text": "x"}) + "\n")
    with pytest.raises(ConfigError, match="semantic_threshold needs semantic"):
        dedup_pipeline(str(src), semantic_threshold=0.9)
    for bad in ({"threshold": 0}, {"threshold": 1.5}, {"cluster_size": 0}, {"probes": 5}):
        with pytest.raises(ConfigError):
            SemanticDedup(**bad)
    pipe = dedup_pipeline(
        str(src), semantic=True, semantic_threshold=0.85, exact=False, url=False, minhash=False
    )
    assert pipe.to_config()["steps"] == [{"type": "pretrain.semantic_dedup", "threshold": 0.85}]


def test_planted_paraphrases_minhash_misses_are_found(tmp_path, capsys):
    """The acceptance case: real instructions, hand-written paraphrases (and near copies) planted after them."""
    docs, plants = corpus()
    src = tmp_path / "corpus.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    result = dedup_pipeline(str(src), semantic=True, output_format="jsonl").run(tmp_path / "out", workers=1)
    side = tmp_path / "out" / "dedup"
    minhash = {r["id"] for r in lines(side / "minhash-00000.jsonl")}
    semantic = lines(side / "semantic-00000.jsonl")
    removed = {r["id"] for r in semantic}
    m, s = scores(minhash, plants, "paraphrase"), scores(removed, plants, "paraphrase")
    both = scores(minhash | removed, plants)
    with capsys.disabled():
        print(
            f"\nparaphrases: MinHash recall {m['recall']:.2f}; semantic after it recall {s['recall']:.2f} "
            f"({s['found']}/{s['planted']}); all planted: precision {both['precision']:.2f} recall {both['recall']:.2f}"
        )
    assert m["found"] == 0 and minhash <= set(plants)  # MinHash finds none of the paraphrases
    assert s["recall"] >= 0.35 and both["precision"] >= 0.9
    right = [r for r in semantic if r["id"] in plants and r["representative"] == source_of(r["id"])]
    assert len(right) >= 0.9 * len(removed & set(plants))
    g = {x["step"]: x for x in result.manifest["global"]}["pretrain.semantic_dedup"]
    assert g["duplicates"] == len(removed) and g["records"] == len(docs) - len(minhash)

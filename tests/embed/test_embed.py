"""datamill.embed: the ONNX backend gives sentence-transformers' vectors, int8 and static tiers stay
close, the vector cache skips texts seen before, and wrong options are refused."""

import json
import os
import shutil
from collections import Counter

import numpy as np
import pytest

from datamill.embed import Embedder, EmbeddingCache, default_model_path, get_embedder
from datamill.errors import ConfigError

TEXTS = [
    "How do I install datamill?",
    "Run pip install datamill; it needs Python 3.11.",
    "  leading and trailing spaces  ",
    "Ünïcödé, emoji 🙂 and CJK 漢字 survive tokenisation.",
    "x",
    " ".join(["a long text that runs past the model's 256-token limit"] * 60),
    "How do I install datamill?",  # a repeat: embedded once, same vector
]


@pytest.fixture(scope="module")
def torch_vectors():
    return get_embedder(backend="torch").encode(TEXTS)


def test_onnx_fp32_matches_sentence_transformers(torch_vectors):
    emb = get_embedder(backend="onnx")
    assert emb.backend == "onnx" and emb.dim == 384
    vecs = emb.encode(TEXTS)
    assert vecs.shape == (len(TEXTS), 384) and vecs.dtype == np.float32
    assert np.abs(vecs - torch_vectors).max() < 1e-5
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vecs[0], vecs[-1])


def test_exported_graph_is_fused_and_int8_quantises_per_channel():
    import onnx

    fp32 = get_embedder(backend="onnx")._impl.file
    ops = Counter(n.op_type for n in onnx.load(fp32).graph.node)
    # one Attention, two SkipLayerNormalization and one BiasGelu per layer: onnxruntime's fused kernels
    assert (ops["Attention"], ops["SkipLayerNormalization"], ops["BiasGelu"]) == (6, 12, 6), ops
    int8 = onnx.load(get_embedder(backend="onnx", quantize=True)._impl.file)
    scales = [i for i in int8.graph.initializer if i.name.endswith("_scale") and "MatMul" in i.name]
    assert scales and all(len(i.dims) == 1 and i.dims[0] > 1 for i in scales)  # one scale per column


def test_truncation_at_128_matches_sentence_transformers_at_128():
    text = TEXTS[5]
    st = Embedder(backend="torch", max_seq_length=128)
    fast = get_embedder(quantize=True, max_seq_length=128)
    assert (
        fast is get_embedder(backend="auto", quantize=True, max_seq_length=128) and fast.max_seq_length == 128
    )
    ref = st.encode([text])[0]
    assert float(ref @ fast.encode([text])[0]) > 0.98
    assert float(ref @ get_embedder(backend="torch").encode([text])[0]) < 0.999  # 128 differs from 256
    np.testing.assert_allclose(Embedder(backend="onnx", max_seq_length=128).encode([text])[0], ref, atol=1e-5)


def test_auto_backend_is_compiled_for_the_shipped_model(monkeypatch):
    from datamill.embed._openvino import cpu_precision

    monkeypatch.delenv("DATAMILL_EMBED_BACKEND", raising=False)
    assert Embedder().backend == ("openvino" if cpu_precision() == "bf16" else "onnx")


def test_batching_does_not_change_vectors():
    emb = get_embedder(backend="onnx")
    one_by_one = np.vstack([emb.encode([t]) for t in TEXTS[:6]])
    np.testing.assert_allclose(emb.encode(TEXTS[:6], batch_size=2), one_by_one, atol=1e-5)


@pytest.mark.parametrize("backend", ["onnx", "auto"])
def test_int8_stays_close_to_fp32(torch_vectors, backend):
    vecs = get_embedder(backend=backend, quantize=True).encode(TEXTS)
    cos = (vecs * torch_vectors).sum(axis=1)
    assert cos.min() > 0.9 and cos.mean() > 0.97, cos


def test_vector_cache_reads_back_what_it_stored(tmp_path):
    emb = get_embedder(backend="onnx")
    path = str(tmp_path / "vectors.sqlite")
    first = emb.encode(TEXTS, cache=path)
    store = emb.vector_cache(path)
    assert store is not None and len(store) == len(set(TEXTS))
    store.hits = store.misses = 0
    emb._impl, real = None, emb._impl  # a cache hit must not touch the model
    try:
        again = emb.encode(TEXTS, cache=path)
    finally:
        emb._impl = real
    np.testing.assert_array_equal(first, again)
    assert (store.hits, store.misses) == (len(set(TEXTS)), 0)
    emb.encode([*TEXTS, "one new text"], cache=path)
    assert store.misses == 1 and len(store) == len(set(TEXTS)) + 1


def test_cache_ignores_vectors_of_another_dimension(tmp_path):
    store = EmbeddingCache(tmp_path / "c.sqlite", 4)
    store.put_many([b"k1", b"k2"], np.ones((2, 4), np.float32))
    other = EmbeddingCache(tmp_path / "c.sqlite", 8)
    assert other.get_many([b"k1", b"k2"]) == {}
    assert set(store.get_many([b"k1", b"k3"])) == {b"k1"}


def test_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="backend must be one of"):
        Embedder(backend="gpu")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="quantize=True needs backend='onnx'"):
        Embedder(backend="torch", quantize=True)
    with pytest.raises(ConfigError, match="not a local folder"):
        Embedder("org/some-hub-model")
    odd = tmp_path / "t5"
    shutil.copytree(default_model_path(), odd, ignore=shutil.ignore_patterns("*.safetensors"))
    cfg = json.loads((odd / "config.json").read_text())
    (odd / "config.json").write_text(json.dumps({**cfg, "model_type": "t5"}))
    with pytest.raises(ConfigError, match="model type 't5'"):
        Embedder(str(odd), backend="onnx")


def test_export_is_keyed_by_the_model_files(tmp_path, monkeypatch):
    from datamill.embed._export import model_info

    monkeypatch.setenv("DATAMILL_CACHE_DIR", str(tmp_path))
    copy = tmp_path / "m"
    shutil.copytree(default_model_path(), copy)
    a = model_info(str(copy))
    (copy / "tokenizer_config.json").write_text("{}")  # not part of the key
    assert model_info(str(copy)).fingerprint == a.fingerprint
    with open(copy / "config.json", "a") as fh:
        fh.write(" ")
    b = model_info(str(copy))
    assert b.fingerprint != a.fingerprint and b.folder != a.folder
    assert a.folder.startswith(os.fspath(tmp_path))


@pytest.mark.slow
def test_static_tier_is_a_coarse_copy_of_the_model(torch_vectors):
    emb = get_embedder(backend="static")
    vecs = emb.encode(TEXTS)
    assert vecs.shape == (len(TEXTS), emb.dim) and emb.dim == 256
    sims = vecs[:6] @ vecs[:6].T
    ref = torch_vectors[:6] @ torch_vectors[:6].T
    # the same neighbour structure, roughly: the nearest other text agrees for the related pair
    assert int(np.argsort(-sims[0])[1]) == int(np.argsort(-ref[0])[1]) == 1

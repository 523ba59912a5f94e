"""datamill.embed's OpenVINO backend: sentence-transformers' vectors in OpenVINO's precision for this
CPU, a static int8 model made once and reused, a clear error without the extra, and "auto"'s choice."""

import os
import sys

import numpy as np
import pytest

from datamill.embed import Embedder, get_embedder
from datamill.errors import MissingDependencyError

pytest.importorskip("openvino")

TEXTS = [
    "How do I install datamill?",
    "Run pip install datamill; it needs Python 3.11.",
    "Ünïcödé, emoji 🙂 and CJK 漢字 survive tokenisation.",
    "x",
    " ".join(["a long text that runs past the model's 256-token limit"] * 60),
    "The relation between the given pairs is that they are opposites.",
]


@pytest.fixture(scope="module")
def torch_vectors():
    return get_embedder(backend="torch").encode(TEXTS)


def test_openvino_matches_sentence_transformers(torch_vectors):
    from datamill.embed._openvino import cpu_precision

    emb = get_embedder(backend="openvino")
    assert emb.backend == "openvino" and emb.precision == cpu_precision() in ("bf16", "f32")
    assert f"precision={emb.precision!r}" in repr(emb)
    vecs = emb.encode(TEXTS)
    assert vecs.shape == (len(TEXTS), 384) and vecs.dtype == np.float32
    cos = (vecs * torch_vectors).sum(axis=1)
    assert cos.min() > 0.999, cos
    # every stream's batches land in their own rows, whatever the batch size
    np.testing.assert_allclose(emb.encode(TEXTS, batch_size=1), vecs, atol=2e-3)
    assert emb.encode([]).shape == (0, 384)


def test_openvino_compiles_the_traced_graph_kept_beside_the_fused_one():
    from datamill.embed._export import EXPORT_VERSION

    folder = os.path.dirname(get_embedder(backend="onnx")._impl.file)
    assert get_embedder(backend="openvino")._impl.file == os.path.join(
        folder, f"model-v{EXPORT_VERSION}-traced.onnx"
    )
    assert os.path.exists(os.path.join(folder, f"model-v{EXPORT_VERSION}.onnx"))


def test_openvino_int8_is_close_and_made_once(torch_vectors, monkeypatch):
    pytest.importorskip("nncf")
    import nncf

    emb = get_embedder(backend="openvino", quantize=True)
    assert emb.precision.startswith("int8") and os.path.exists(emb._impl.file)
    cos = (emb.encode(TEXTS) * torch_vectors).sum(axis=1)
    assert cos.min() > 0.98, cos

    def no(*a, **k):
        raise AssertionError("the cached int8 model must be reused, not quantised again")

    monkeypatch.setattr(nncf, "quantize", no)
    again = Embedder(backend="openvino", quantize=True)
    assert again._impl.file == emb._impl.file
    np.testing.assert_array_equal(again.encode(TEXTS[:2]), emb.encode(TEXTS[:2]))


def test_openvino_vectors_have_their_own_vector_cache():
    a = get_embedder(backend="openvino").vector_cache()
    b = get_embedder(backend="onnx").vector_cache()
    assert a is not None and b is not None and a.path != b.path


def test_missing_openvino_or_nncf_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(MissingDependencyError, match=r"openvino.*datamill\[openvino\]"):
        Embedder(backend="openvino")
    monkeypatch.delitem(sys.modules, "openvino")
    monkeypatch.setitem(sys.modules, "nncf", None)
    monkeypatch.setenv("DATAMILL_CACHE_DIR", str(tmp_path))  # no int8 model made before
    with pytest.raises(MissingDependencyError, match=r"nncf.*datamill\[openvino\]"):
        Embedder(backend="openvino", quantize=True)


def test_auto_picks_openvino_where_it_runs_bf16(monkeypatch):
    import datamill.embed._openvino as ovmod

    monkeypatch.delenv("DATAMILL_EMBED_BACKEND", raising=False)
    uncached = ovmod.cpu_precision.__wrapped__
    monkeypatch.setattr(ovmod, "cpu_precision", lambda: "bf16")
    assert Embedder().backend == "openvino"
    monkeypatch.setattr(ovmod, "cpu_precision", lambda: "f32")  # measured no faster than ONNX Runtime
    assert Embedder().backend == "onnx"
    monkeypatch.setattr(ovmod, "cpu_precision", lambda: "bf16")
    monkeypatch.setitem(sys.modules, "nncf", None)  # int8 without NNCF: ONNX Runtime's
    assert Embedder(quantize=True).backend == "onnx"
    monkeypatch.setitem(sys.modules, "openvino", None)
    monkeypatch.setattr(ovmod, "cpu_precision", uncached)
    assert Embedder().backend == "onnx"

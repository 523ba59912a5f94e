"""The learned contradiction detector: a small classifier over sentence-pair features of the shipped MiniLM.

Each statement is embedded once (all-MiniLM-L6-v2, offline); a pair ``(u, v)`` becomes the symmetric
features ``(u + v, |u - v|, u * v)`` and a one-hidden-layer network trained on public NLI data
(``scripts/train_contradiction_model.py``: SNLI and MultiNLI samples in ``tests/data/nli``) gives the
probability that the two statements contradict each other. Only pairs about the same subject are scored
(cosine similarity of their embeddings at least ``min_similarity``, at most ``max_neighbours`` per
statement), so a context of 20 passages costs a few small matrix products. The weights (numpy, no
torch at scoring time) ship as package data in ``datamill/data/contradiction/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar

import numpy as np

from datamill.errors import ConfigError

T = TypeVar("T")

__all__ = [
    "ContradictionModel",
    "candidate_pairs",
    "load_contradiction_model",
    "pair_features",
    "read_weights",
]

_WEIGHTS = "contradiction_minilm.npz"


def pair_features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Symmetric pair features ``[u + v, |u - v|, u * v]`` of row-aligned embeddings (n, d) -> (n, 3d)."""
    return np.hstack([u + v, np.abs(u - v), u * v]).astype(np.float32, copy=False)


@dataclass(slots=True)
class ContradictionModel:
    """A one-hidden-layer network scoring statement pairs for contradiction.

    ``layers`` are ``(weight, bias)`` pairs (ReLU between them, softmax at the end) over
    :func:`pair_features`; ``classes`` name the outputs (one of them ``"contradiction"``); ``threshold``
    is the probability from which a pair counts as contradictory; ``info`` records the training data,
    the embedding model and the held-out scores.
    """

    layers: list[tuple[np.ndarray, np.ndarray]]
    classes: list[str]
    threshold: float
    info: dict[str, Any]

    def probabilities(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Class probabilities (n, classes) of the pairs ``(u[i], v[i])``."""
        h = pair_features(np.asarray(u, dtype=np.float32), np.asarray(v, dtype=np.float32))
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                np.maximum(h, 0.0, out=h)
        h -= h.max(axis=1, keepdims=True)
        np.exp(h, out=h)
        return h / h.sum(axis=1, keepdims=True)

    def score(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """P(contradiction) of each pair ``(u[i], v[i])``; (n,) float32."""
        if len(u) == 0:
            return np.zeros(0, dtype=np.float32)
        return self.probabilities(u, v)[:, self.classes.index("contradiction")]

    def save(self, path: str) -> None:
        """Write the weights (float16) and the metadata to one ``.npz`` file."""
        meta = {"classes": self.classes, "threshold": self.threshold, "info": self.info}
        arrays: dict[str, Any] = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        for i, (w, b) in enumerate(self.layers):
            arrays[f"w{i}"], arrays[f"b{i}"] = w.astype(np.float16), b.astype(np.float32)
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Any) -> ContradictionModel:
        """A model written by :meth:`save`."""
        with np.load(path) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            n = sum(1 for k in z.files if k.startswith("w"))
            layers = [(z[f"w{i}"].astype(np.float32), z[f"b{i}"].astype(np.float32)) for i in range(n)]
        return cls(layers, list(meta["classes"]), float(meta["threshold"]), dict(meta["info"]))


def read_weights(path: Any, shipped: str, load: Callable[[Any], T], missing: str | None = None) -> T:
    """``load(path)``; with ``path`` None, ``load`` of the file ``shipped`` in ``datamill/data/contradiction``
    (``missing``: the error when it is not there; default, "the shipped ... is missing")."""
    if path is not None:
        return load(path)
    ref = resources.files("datamill") / "data" / "contradiction" / shipped
    with resources.as_file(ref) as p:
        if not p.exists():
            raise ConfigError(missing or f"the shipped model {shipped} is missing: {p}", params="weights")
        return load(p)


@lru_cache(maxsize=2)
def load_contradiction_model(path: str | None = None) -> ContradictionModel:
    """The shipped model (or one saved at ``path`` by the training script); loaded once per process."""
    return read_weights(path, _WEIGHTS, ContradictionModel.load)


def candidate_pairs(
    vecs: np.ndarray,
    groups: np.ndarray,
    *,
    min_similarity: float,
    max_neighbours: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, of statements about the same subject: from different groups (passages),
    cosine similarity >= ``min_similarity``, each statement paired with at most its ``max_neighbours`` most
    similar. Returns (i, j, similarity), most similar first."""
    n = len(vecs)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    sim = vecs @ vecs.T
    mask = groups[:, None] != groups[None, :]
    sim = np.where(mask, sim, -1.0)
    if (
        max_neighbours < n - 1
    ):  # keep each statement's top neighbours (the pair stays if either side keeps it)
        kth = np.partition(sim, n - max_neighbours, axis=1)[:, n - max_neighbours][:, None]
        keep = sim >= kth
        keep |= keep.T
        sim = np.where(keep, sim, -1.0)
    ii, jj = np.nonzero(np.triu(sim >= min_similarity, k=1))
    s = sim[ii, jj].astype(np.float32)
    order = np.argsort(-s, kind="stable")
    return ii[order], jj[order], s[order]

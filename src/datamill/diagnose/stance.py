"""The stance model of the claim-aware contradiction mode: does a statement support or refute a claim?

A small alignment network (the decomposable-attention / ESIM family: Parikh et al. 2016, Chen et al. 2017)
over the frozen token states of the shipped all-MiniLM-L6-v2: each token of the statement is softly
aligned with the claim's tokens and the other way round, each token is compared with what it aligned to
(``[a, ã, a - ã, a * ã]`` through one ReLU layer), the comparisons are pooled (mean and max) and a
one-hidden-layer head gives P(contradiction / entailment / neutral) of (statement as premise, claim as
hypothesis). Unlike the pair-feature model of :mod:`datamill.diagnose.nli`, which sees two sentence
vectors, it reads the words that differ ("not", "lowers" / "raises"). Trained by
``scripts/train_stance_model.py`` on the NLI samples in ``tests/data/nli``; the weights (~0.3 MB, numpy at
scoring time) ship in ``datamill/data/contradiction/stance_minilm.npz``.

The token states come from one MiniLM pass per statement (the same pass gives its sentence vector); a
context of 60 statements and its claim costs that pass plus a few small matrix products.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["StanceModel", "load_stance_model"]

_WEIGHTS = "stance_minilm.npz"
MAX_TOKENS = 64
#: pairs scored per padded batch, and texts whose token states ``memo`` keeps (oldest dropped past it):
#: a scan of a large contexts file scores millions of statement-claim pairs, which must not all be padded
#: into one array, nor all stay in the process-wide shipped model
SCORE_BATCH = 512
MEMO_TEXTS = 20_000
#: parameter names, in the order the training script writes them
PARAMS = ("proj_w", "proj_b", "cmp_w", "cmp_b", "hid_w", "hid_b", "out_w", "out_b")


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x - x.max(axis=axis, keepdims=True)
    np.exp(x, out=x)
    return x / x.sum(axis=axis, keepdims=True)


@dataclass
class StanceModel:
    """The alignment network's weights (``PARAMS``), its classes, the claim-aware thresholds and how it was
    trained (``info``); ``memo`` keeps each text's projected token states and sentence vector."""

    params: dict[str, np.ndarray]
    classes: list[str]
    threshold: float
    info: dict[str, Any]
    memo: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _base: Any = None
    _tokenizer: Any = None

    def project(self, states: np.ndarray) -> np.ndarray:
        """MiniLM token states (n, 384) -> the network's token vectors (n, d)."""
        return np.asarray(states, dtype=np.float32) @ self.params["proj_w"] + self.params["proj_b"]

    def logits_projected(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Class logits (classes,) of one (premise, hypothesis) pair of projected token states."""
        p = self.params
        e = a @ b.T  # (n, m)
        a_t = _softmax(e.copy(), axis=1) @ b
        b_t = _softmax(e.T.copy(), axis=1) @ a

        def compare(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return np.maximum(np.hstack([x, y, x - y, x * y]) @ p["cmp_w"] + p["cmp_b"], 0.0)

        ma, mb = compare(a, a_t), compare(b, b_t)
        pooled = np.concatenate([ma.mean(0), ma.max(0), mb.mean(0), mb.max(0)])
        h = np.maximum(pooled @ p["hid_w"] + p["hid_b"], 0.0)
        return h @ p["out_w"] + p["out_b"]

    def probabilities_projected(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Class probabilities (n, classes) of pairs of projected token states (padded and scored in one
        batch of matrix products; :meth:`logits_projected` is the same for one pair)."""
        if not pairs:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        p = self.params
        d = pairs[0][0].shape[1]
        n, m = max(len(a) for a, _ in pairs), max(len(b) for _, b in pairs)
        a = np.zeros((len(pairs), n, d), dtype=np.float32)
        b = np.zeros((len(pairs), m, d), dtype=np.float32)
        am = np.zeros((len(pairs), n), dtype=np.float32)
        bm = np.zeros((len(pairs), m), dtype=np.float32)
        for i, (x, y) in enumerate(pairs):
            a[i, : len(x)], am[i, : len(x)] = x, 1
            b[i, : len(y)], bm[i, : len(y)] = y, 1
        e = a @ b.transpose(0, 2, 1)  # (k, n, m)
        a_t = _softmax(e + (1 - bm)[:, None, :] * -1e4, axis=2) @ b
        b_t = _softmax(e.transpose(0, 2, 1) + (1 - am)[:, None, :] * -1e4, axis=2) @ a

        def pool(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
            c = np.maximum(np.concatenate([x, y, x - y, x * y], -1) @ p["cmp_w"] + p["cmp_b"], 0.0)
            c *= mask[..., None]  # >= 0, so a padded 0 never wins the max
            return np.concatenate([c.sum(1) / mask.sum(1, keepdims=True), c.max(1)], -1)

        pooled = np.concatenate([pool(a, a_t, am), pool(b, b_t, bm)], -1)
        h = np.maximum(pooled @ p["hid_w"] + p["hid_b"], 0.0)
        return _softmax(h @ p["out_w"] + p["out_b"], axis=1)

    # --- texts -------------------------------------------------------------------------------------
    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit sentence vectors (n, 384) of ``texts`` (the shipped MiniLM's mean-pooled output, as its
        embedder gives them), remembering each text's projected token states for :meth:`probabilities`."""
        import torch

        if self._base is None:
            from transformers import AutoModel, AutoTokenizer

            from datamill.embed import default_model_path

            self._base = AutoModel.from_pretrained(default_model_path()).eval()
            self._tokenizer = AutoTokenizer.from_pretrained(default_model_path())
        new = sorted(dict.fromkeys(t for t in texts if t not in self.memo), key=len)
        for s in range(0, len(new), batch_size):
            chunk = new[s : s + batch_size]
            x = self._tokenizer(
                chunk, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
            )
            with torch.inference_mode():
                h = self._base(**x).last_hidden_state
            mask = x["attention_mask"]
            pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            pooled = torch.nn.functional.normalize(pooled, dim=-1).numpy()
            states = h.numpy()
            for i, t in enumerate(chunk):
                n = int(mask[i].sum())
                self.memo[t] = (pooled[i].astype(np.float32), self.project(states[i, :n]))
        if len(self.memo) > MEMO_TEXTS:  # drop the oldest texts, never one of these
            wanted = set(texts)
            for t in [t for t in self.memo if t not in wanted][: len(self.memo) - MEMO_TEXTS]:
                del self.memo[t]
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self.memo[t][0] for t in texts])

    def probabilities(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """Class probabilities (n, classes) of (premise, hypothesis) text pairs (encoded on the way), scored
        ``SCORE_BATCH`` pairs at a time."""
        out = [np.zeros((0, len(self.classes)), dtype=np.float32)]
        for s in range(0, len(pairs), SCORE_BATCH):
            part = pairs[s : s + SCORE_BATCH]
            self.encode([t for pair in part for t in pair])
            out.append(self.probabilities_projected([(self.memo[a][1], self.memo[b][1]) for a, b in part]))
        return np.concatenate(out)

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """P(contradiction) of each (premise, hypothesis) pair; (n,) float32."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        return self.probabilities(pairs)[:, self.classes.index("contradiction")].astype(np.float32)

    # --- files -------------------------------------------------------------------------------------
    def save(self, path: str) -> None:
        """Write the weights (float16) and the metadata to one ``.npz`` file."""
        meta = {"classes": self.classes, "threshold": self.threshold, "info": self.info}
        arrays: dict[str, Any] = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        arrays.update({k: self.params[k].astype(np.float16) for k in PARAMS})
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Any) -> StanceModel:
        """A model written by :meth:`save`."""
        with np.load(path) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            params = {k: z[k].astype(np.float32) for k in PARAMS}
        return cls(params, list(meta["classes"]), float(meta["threshold"]), dict(meta["info"]))


@lru_cache(maxsize=2)
def load_stance_model(path: str | None = None) -> StanceModel:
    """The shipped stance model (or one saved at ``path`` by the training script); loaded once per process."""
    from datamill.diagnose.nli import read_weights

    return read_weights(path, _WEIGHTS, StanceModel.load)

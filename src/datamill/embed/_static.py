"""A static-embedding tier distilled locally from the same model (the Model2Vec recipe).

Every vocabulary token is run through the sentence model on its own, the token vectors are reduced
with PCA and weighted by a Zipf estimate of token frequency (SIF), and a text's vector is the mean of
its tokens' vectors: no transformer at encode time, so it runs hundreds of times faster, at a
quality cost ``benchmarks/embed_speed.py`` measures. model2vec's own ``distill`` pins
transformers below 5.4, so the recipe is done here on the ONNX encoder instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from datamill.embed._export import ModelInfo
from datamill.errors import StorageError

__all__ = ["StaticEncoder", "distill_static"]

_SIF = 1e-4


def distill_static(info: ModelInfo, *, dims: int = 256) -> str:
    """The token-vector table of ``info``'s static tier (``static-<dims>.npy``), distilled once."""
    final = os.path.join(info.folder, f"static-{dims}.npy")
    if os.path.exists(final):
        return final
    from datamill.embed._onnx import OnnxEncoder

    enc = OnnxEncoder(info)
    vocab_size = enc.tokenizer.get_vocab_size()
    cls_id, sep_id = enc.tokenizer.token_to_id("[CLS]"), enc.tokenizer.token_to_id("[SEP]")
    table = np.zeros((vocab_size, info.dim), dtype=np.float32)
    step = 512
    for start in range(0, vocab_size, step):
        tok = np.arange(start, min(vocab_size, start + step), dtype=np.int64)[:, None]
        parts = [tok] if cls_id is None else [np.full_like(tok, cls_id), tok, np.full_like(tok, sep_id)]
        ids = np.concatenate(parts, axis=1)
        table[start : start + len(tok)] = enc.session.run(
            None, {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        )[0]
    centred = table - table.mean(axis=0)
    dims = min(dims, info.dim)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ vt[:dims].T
    # Zipf: a WordPiece vocabulary is roughly in frequency order, so p(token) ~ 1 / rank
    rank = np.arange(1, vocab_size + 1, dtype=np.float64)
    prob = (1.0 / rank) / np.sum(1.0 / rank)
    weights = _SIF / (_SIF + prob)
    reduced = (reduced * weights[:, None]).astype(np.float32)
    tmp = final + f".tmp-{os.getpid()}.npy"
    try:
        np.save(tmp, reduced)
        os.replace(tmp, final)
    except OSError as exc:
        raise StorageError(f"cannot write the static tier to {info.folder}: {exc}") from None
    return final


class StaticEncoder:
    """Mean of distilled token vectors (no truncation, no transformer)."""

    def __init__(self, info: ModelInfo, *, dims: int = 256) -> None:
        from tokenizers import Tokenizer

        self.info = info
        self.table = np.load(distill_static(info, dims=dims))
        self.dim = int(self.table.shape[1])
        self.tokenizer = Tokenizer.from_file(os.path.join(info.path, "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def encode(self, texts: Sequence[str], **_: object) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        encs = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=len(encs))
        nonempty = lengths > 0
        if not nonempty.any():
            return out
        flat = np.fromiter((i for e in encs for i in e.ids), dtype=np.int64, count=int(lengths.sum()))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])[nonempty]
        sums = np.add.reduceat(self.table[flat], starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        out[nonempty] = sums / np.clip(norms, 1e-12, None)
        return out

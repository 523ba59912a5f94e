"""Tokenisation and length-sorted batching shared by the compiled backends (ONNX Runtime, OpenVINO):
the Rust tokenizer, texts batched shortest first (so the padding of neighbours stays tiny), at most
``batch_size`` texts and :data:`MAX_TOKENS` padded tokens per batch."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np

from datamill.embed._export import ModelInfo

__all__ = ["MAX_BATCH", "MAX_TOKENS", "TokenBatches", "default_threads"]

# a batch holds at most this many texts and this many padded tokens: big enough to keep the matrix
# products efficient, small enough that the padding of length-sorted neighbours stays tiny
MAX_BATCH = 64
MAX_TOKENS = 8192


def default_threads() -> int:
    """``$DATAMILL_EMBED_THREADS``, else the CPUs this process may run on."""
    env = os.environ.get("DATAMILL_EMBED_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class TokenBatches:
    """``info``'s tokenizer (truncating at ``info.max_seq_length``) and the batches it makes."""

    def __init__(self, info: ModelInfo) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(os.path.join(info.path, "tokenizer.json"))
        self.tokenizer.enable_truncation(info.max_seq_length)
        self.tokenizer.no_padding()
        pad = self.tokenizer.token_to_id("[PAD]")
        self.pad_id = 0 if pad is None else pad

    def __call__(
        self, texts: Sequence[str], batch_size: int = MAX_BATCH
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(rows, input_ids, attention_mask)`` per batch, int64, right-padded; ``rows`` are the
        positions in ``texts``. Every text is in exactly one batch."""
        if not len(texts):
            return
        encs = self.tokenizer.encode_batch([t.strip() for t in texts], add_special_tokens=True)
        ids_list = [e.ids for e in encs]
        lengths = np.fromiter((len(x) for x in ids_list), dtype=np.int64, count=len(ids_list))
        order = np.argsort(lengths, kind="stable")
        start = 0
        while start < len(order):
            longest = int(lengths[order[min(len(order), start + batch_size) - 1]])
            size = max(1, min(batch_size, MAX_TOKENS // max(1, longest)))
            rows = order[start : start + size]
            width = int(lengths[rows[-1]])
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = int(lengths[i])
                ids[r, :n] = ids_list[i]
                mask[r, :n] = 1
            yield rows, ids, mask
            start += len(rows)

"""Encode with ONNX Runtime: Rust tokenizer, length-sorted batches, one session per model file."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from datamill.embed._export import ModelInfo, export_onnx, quantize_int8
from datamill.errors import require

__all__ = ["OnnxEncoder", "default_threads"]

# a batch holds at most this many texts and this many padded tokens: big enough to keep the matrix
# products efficient, small enough that the padding of length-sorted neighbours stays tiny
_MAX_BATCH = 64
_MAX_TOKENS = 8192


def default_threads() -> int:
    """``$DATAMILL_EMBED_THREADS``, else the CPUs this process may run on."""
    env = os.environ.get("DATAMILL_EMBED_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class OnnxEncoder:
    """Sentence vectors from an exported model (fp32, or int8 with ``quantize=True``)."""

    def __init__(self, info: ModelInfo, *, quantize: bool = False, threads: int | None = None) -> None:
        ort = require("onnxruntime", extra="incontext", purpose="fast embeddings")
        from tokenizers import Tokenizer

        self.info = info
        self.dim = info.dim
        self.file = quantize_int8(info) if quantize else export_onnx(info)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or default_threads()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(self.file, opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(os.path.join(info.path, "tokenizer.json"))
        self.tokenizer.enable_truncation(info.max_seq_length)
        self.tokenizer.no_padding()
        pad = self.tokenizer.token_to_id("[PAD]")
        self.pad_id = 0 if pad is None else pad

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = _MAX_BATCH,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """(n, dim) float32, L2-normalised; texts are batched shortest first, so padding stays small."""
        out = np.zeros((len(texts), self.info.dim), dtype=np.float32)
        if not len(texts):
            return out
        encs = self.tokenizer.encode_batch([t.strip() for t in texts], add_special_tokens=True)
        ids_list = [e.ids for e in encs]
        lengths = np.fromiter((len(x) for x in ids_list), dtype=np.int64, count=len(ids_list))
        order = np.argsort(lengths, kind="stable")
        start = 0
        while start < len(order):
            longest = int(lengths[order[min(len(order), start + batch_size) - 1]])
            size = max(1, min(batch_size, _MAX_TOKENS // max(1, longest)))
            rows = order[start : start + size]
            width = int(lengths[rows[-1]])
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = int(lengths[i])
                ids[r, :n] = ids_list[i]
                mask[r, :n] = 1
            out[rows] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            start += len(rows)
            if progress is not None:
                progress(len(rows))
        return out

"""Encode with ONNX Runtime: Rust tokenizer, length-sorted batches, one session per model file."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from datamill.embed._batches import MAX_BATCH, TokenBatches, default_threads
from datamill.embed._export import ModelInfo, export_onnx, quantize_int8
from datamill.errors import require

__all__ = ["OnnxEncoder", "default_threads"]


class OnnxEncoder:
    """Sentence vectors from an exported model (fp32, or int8 with ``quantize=True``)."""

    def __init__(self, info: ModelInfo, *, quantize: bool = False, threads: int | None = None) -> None:
        ort = require("onnxruntime", extra="incontext", purpose="fast embeddings")
        self.info = info
        self.dim = info.dim
        self.precision = "int8" if quantize else "fp32"
        self.file = quantize_int8(info) if quantize else export_onnx(info)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or default_threads()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(self.file, opts, providers=["CPUExecutionProvider"])
        self.batches = TokenBatches(info)
        self.tokenizer = self.batches.tokenizer

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = MAX_BATCH,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """(n, dim) float32, L2-normalised; texts are batched shortest first, so padding stays small."""
        out = np.zeros((len(texts), self.info.dim), dtype=np.float32)
        for rows, ids, mask in self.batches(texts, batch_size):
            out[rows] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            if progress is not None:
                progress(len(rows))
        return out

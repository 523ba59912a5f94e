"""Encode with OpenVINO: the traced ONNX graph compiled for this CPU, the same tokenisation and
length-sorted batches as the ONNX Runtime backend (:mod:`datamill.embed._batches`).

OpenVINO picks the inference precision: bf16 on CPUs with AMX or AVX-512 BF16 (weights and
activations in bf16, accumulation in fp32; cosine to sentence-transformers >= 0.9999), f32 elsewhere;
:attr:`OpenVinoEncoder.precision` says which. ``quantize=True`` runs a static int8 model made once by
NNCF's post-training quantisation, calibrated on a fixed set of texts shipped with datamill (the
beir_selfinstruct corpus and queries), so every machine makes the same file; it is cached beside the
exported ONNX files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from datamill.embed._batches import MAX_BATCH, TokenBatches, default_threads
from datamill.embed._export import EXPORT_VERSION, ModelInfo, _quiet_root_logger, export_traced, model_info
from datamill.errors import StorageError, require

__all__ = [
    "OV_INT8_VERSION",
    "OpenVinoEncoder",
    "calibration_texts",
    "cpu_precision",
    "quantize_openvino",
]

# bumped when the int8 recipe (calibration texts, NNCF options) changes, so an older file is not reused
OV_INT8_VERSION = 1
_CALIBRATION_BATCH = 16


def _openvino() -> Any:
    return require("openvino", extra="openvino", purpose="the OpenVINO embedding backend")


def calibration_texts() -> list[str]:
    """The fixed texts int8 calibration runs on: the shipped beir_selfinstruct corpus (title and
    text, as indexes embed them) and its queries, in file order."""
    import orjson

    folder = resources.files("datamill") / "data" / "beir_selfinstruct"
    out: list[str] = []
    for name in ("corpus.jsonl", "queries.jsonl"):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = orjson.loads(line)
                title, text = rec.get("title") or "", rec.get("text") or ""
                out.append(f"{title}\n{text}" if title else text)
    return out


@contextlib.contextmanager
def _no_nncf_telemetry() -> Iterator[None]:
    """NNCF sends usage events to Google Analytics unless the user opted out; datamill calls it
    behind the user's back, so it sends nothing (the stub NNCF itself uses in its tests)."""
    try:
        from nncf.telemetry import decorator
        from nncf.telemetry.wrapper import NNCFTelemetryStub
    except ImportError:  # another NNCF layout: nothing to switch off here
        yield
        return
    saved = decorator.telemetry
    decorator.telemetry = NNCFTelemetryStub()
    try:
        yield
    finally:
        decorator.telemetry = saved


def quantize_openvino(info: ModelInfo) -> str:
    """The model's static int8 OpenVINO file (``.xml`` beside its ``.bin``), made once from the
    traced ONNX graph by NNCF (transformer preset: activations quantised per tensor, weights per
    channel, softmax and layer norms left in float) and reused after."""
    final = os.path.join(info.folder, f"model-v{EXPORT_VERSION}-openvino-int8-v{OV_INT8_VERSION}")
    xml = os.path.join(final, "model.xml")
    if os.path.exists(xml):
        return xml
    ov = _openvino()
    nncf = require("nncf", extra="openvino", purpose="int8 quantisation for the OpenVINO embedding backend")
    traced = export_traced(info)
    # calibrate at the model's own truncation, whatever max_seq_length this embedder was asked for,
    # so the cached file does not depend on who made it first
    own = dataclasses.replace(info, max_seq_length=model_info(info.path).max_seq_length)
    batches = TokenBatches(own)
    items = [
        {"input_ids": ids, "attention_mask": mask}
        for _, ids, mask in batches(calibration_texts(), _CALIBRATION_BATCH)
    ]
    nncf.set_log_level(logging.ERROR)
    quiet = io.StringIO()  # NNCF's progress bars: the caller may have its own
    with (
        warnings.catch_warnings(),
        _quiet_root_logger(),
        _no_nncf_telemetry(),
        contextlib.redirect_stdout(quiet),
        contextlib.redirect_stderr(quiet),
    ):
        warnings.simplefilter("ignore")
        quantized = nncf.quantize(
            ov.Core().read_model(traced),
            nncf.Dataset(items),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(items),
        )
    try:
        os.makedirs(info.folder, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=info.folder)
    except OSError as exc:
        raise StorageError(f"cannot write the int8 OpenVINO model to {info.folder}: {exc}") from None
    try:
        ov.save_model(quantized, os.path.join(tmp, "model.xml"), compress_to_fp16=False)
        try:
            os.rename(tmp, final)  # atomic: the folder appears with both files or not at all
        except OSError:
            if not os.path.exists(xml):  # (else another process made it first: keep theirs)
                raise
    except OSError as exc:
        raise StorageError(f"cannot write the int8 OpenVINO model to {final}: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return xml


def _type_name(t: Any) -> str:
    name = getattr(t, "get_type_name", None)
    return str(name() if name else t)


@lru_cache(maxsize=1)
def cpu_precision() -> str | None:
    """The precision OpenVINO runs float models in on this CPU (``"bf16"`` with AMX or AVX-512 BF16,
    else ``"f32"``), or None when OpenVINO is not installed."""
    try:
        import openvino as ov
    except ImportError:
        return None
    return _type_name(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))


class OpenVinoEncoder:
    """Sentence vectors from the traced model compiled by OpenVINO (bf16 where the CPU supports it,
    else f32; static int8 with ``quantize=True``)."""

    def __init__(
        self,
        info: ModelInfo,
        *,
        quantize: bool = False,
        threads: int | None = None,
        streams: int | None = None,
    ) -> None:
        ov = _openvino()
        self.info = info
        self.dim = info.dim
        self.file = quantize_openvino(info) if quantize else export_traced(info)
        # throughput mode: OpenVINO splits the threads into streams (2 of 1 thread on 2 CPUs) and
        # batches run on every stream at once; measured faster than one stream of every thread
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "THROUGHPUT",
            "INFERENCE_NUM_THREADS": threads or default_threads(),
        }
        if streams is not None:
            config["NUM_STREAMS"] = streams
        self.compiled = ov.Core().compile_model(self.file, "CPU", config)
        fp = _type_name(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        self.precision = f"int8+{fp}" if quantize else fp  # "bf16", "f32", "int8+bf16", ...
        self.streams = int(self.compiled.get_property("NUM_STREAMS"))
        requests = int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.queue = ov.AsyncInferQueue(self.compiled, max(1, requests))
        self.batches = TokenBatches(info)
        self.tokenizer = self.batches.tokenizer
        self._lock = threading.Lock()  # one encode at a time per queue (the queue is not re-entrant)

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = MAX_BATCH,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """(n, dim) float32, L2-normalised; batches run on every stream at once."""
        out = np.zeros((len(texts), self.info.dim), dtype=np.float32)

        def done(request: Any, rows: np.ndarray) -> None:
            out[rows] = request.get_output_tensor(0).data
            if progress is not None:
                progress(len(rows))

        batches = self.batches(texts, batch_size)
        with self._lock:
            self.queue.set_callback(done)
            # longest batches first within each window (LPT scheduling), so the streams finish
            # together instead of one running the long tail alone: +10% docs/s on 250-text calls
            while window := list(itertools.islice(batches, 8 * self.streams)):
                for rows, ids, mask in sorted(window, key=lambda b: -b[1].size):
                    self.queue.start_async({"input_ids": ids, "attention_mask": mask}, rows)
            self.queue.wait_all()
        return out

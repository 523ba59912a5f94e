"""Export a local BERT-family sentence-transformers folder to ONNX, once, into a user cache folder.

The graph is traced from a plain re-implementation of the BERT encoder (embeddings, self-attention,
feed-forward, post-layer norms) loaded with the folder's own weights, followed by the folder's
pooling and L2 normalisation, so ONNX Runtime gets one graph from token ids to sentence vectors.
Tracing our own module instead of the transformers class keeps the export independent of how a
transformers release builds its attention masks (recent ones trace to fixed shapes). Files are keyed
by a hash of the weights, tokenizer and configs: a changed model is exported again, never mixed up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from datamill.errors import ConfigError, StorageError, require

__all__ = [
    "EXPORT_VERSION",
    "ModelInfo",
    "cache_root",
    "export_onnx",
    "export_traced",
    "model_info",
    "onnx_supported",
    "quantize_int8",
]

# bumped when the exported graph changes, so a cache from an older export is not reused
EXPORT_VERSION = 2

_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_HASHED = (
    "config.json",
    "tokenizer.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "modules.json",
)


def cache_root() -> str:
    """``$DATAMILL_CACHE_DIR``, else ``~/.cache/datamill``: exported models and cached vectors."""
    return os.environ.get("DATAMILL_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "datamill")


@dataclass(frozen=True)
class ModelInfo:
    """What the ONNX path needs to know about a local sentence-transformers folder."""

    path: str
    fingerprint: str  # xxh3-128 of the weights, tokenizer and configs
    model_type: str
    pooling: str  # "mean" or "cls"
    normalize: bool
    max_seq_length: int
    dim: int

    @property
    def folder(self) -> str:
        """Where this model's exported files live."""
        name = os.path.basename(os.path.normpath(self.path)) or "model"
        return os.path.join(cache_root(), "models", f"{name}-{self.fingerprint[:16]}")


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            out = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable model file ({exc})") from None
    return out if isinstance(out, dict) else {}


def _fingerprint(path: str) -> str:
    import xxhash

    h = xxhash.xxh3_128()
    for name in (*_WEIGHTS, *_HASHED):
        full = os.path.join(path, name)
        if not os.path.exists(full):
            continue
        h.update(name.encode())
        with open(full, "rb") as fh:
            while block := fh.read(1 << 22):
                h.update(block)
    return h.hexdigest()


def model_info(path: str) -> ModelInfo:
    """Read a sentence-transformers folder's configs (and hash its files)."""
    cfg = _read_json(os.path.join(path, "config.json"))
    st_cfg = _read_json(os.path.join(path, "sentence_bert_config.json"))
    pool = _read_json(os.path.join(path, "1_Pooling", "config.json"))
    modules = json.dumps(_read_json_list(os.path.join(path, "modules.json")))
    if pool.get("pooling_mode_cls_token"):
        pooling = "cls"
    elif pool.get("pooling_mode_mean_tokens", True) and not any(
        pool.get(k) for k in ("pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    ):
        pooling = "mean"
    else:
        pooling = "other"
    max_len = int(st_cfg.get("max_seq_length") or cfg.get("max_position_embeddings") or 512)
    return ModelInfo(
        path=path,
        fingerprint=_fingerprint(path),
        model_type=str(cfg.get("model_type", "")),
        pooling=pooling,
        normalize="Normalize" in modules,
        max_seq_length=min(max_len, int(cfg.get("max_position_embeddings") or max_len)),
        dim=int(cfg.get("hidden_size") or 0),
    )


def _read_json_list(path: str) -> list[Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            out = json.load(fh)
    except (OSError, json.JSONDecodeError):
        return []
    return out if isinstance(out, list) else []


def onnx_supported(info: ModelInfo) -> str | None:
    """Why ``info`` cannot take the ONNX path (None when it can)."""
    if info.model_type != "bert":
        return f"model type {info.model_type or 'unknown'!r} (the ONNX export covers BERT encoders)"
    if info.pooling not in ("mean", "cls"):
        return "pooling other than mean or CLS"
    if not any(os.path.exists(os.path.join(info.path, w)) for w in _WEIGHTS):
        return "no model.safetensors or pytorch_model.bin"
    if not os.path.exists(os.path.join(info.path, "tokenizer.json")):
        return "no tokenizer.json"
    return None


def _load_weights(path: str) -> dict[str, Any]:
    torch = require("torch", extra="incontext", purpose="exporting the embedding model to ONNX")
    if os.path.exists(os.path.join(path, "model.safetensors")):
        from safetensors.torch import load_file

        weights = load_file(os.path.join(path, "model.safetensors"))
    else:
        weights = torch.load(os.path.join(path, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    out = {}
    for key, value in weights.items():
        for prefix in ("bert.", "model."):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        out[key] = value.float()
    return out


def _bert_module(info: ModelInfo):  # noqa: ANN202
    """A torch module: (input_ids, attention_mask) -> pooled, normalised sentence vectors."""
    import math

    import torch
    import torch.nn.functional as F

    cfg = _read_json(os.path.join(info.path, "config.json"))
    weights = _load_weights(info.path)
    heads, layers = int(cfg["num_attention_heads"]), int(cfg["num_hidden_layers"])
    dim, eps = int(cfg["hidden_size"]), float(cfg.get("layer_norm_eps", 1e-12))
    act = str(cfg.get("hidden_act", "gelu"))
    if act not in ("gelu", "relu", "gelu_new"):
        raise ConfigError(f"activation {act!r} is not supported by the ONNX export")

    class Bert(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.ParameterDict(
                {k.replace(".", "__"): torch.nn.Parameter(v, requires_grad=False) for k, v in weights.items()}
            )

        def p(self, name: str):  # noqa: ANN202
            return self.w[name.replace(".", "__")]

        def ln(self, x, name: str):  # noqa: ANN001, ANN202
            return F.layer_norm(x, (dim,), self.p(f"{name}.weight"), self.p(f"{name}.bias"), eps)

        def lin(self, x, name: str):  # noqa: ANN001, ANN202
            return F.linear(x, self.p(f"{name}.weight"), self.p(f"{name}.bias"))

        def forward(self, input_ids, attention_mask):  # noqa: ANN001, ANN202
            seq = torch.arange(input_ids.shape[1]).unsqueeze(0)
            x = self.p("embeddings.word_embeddings.weight")[input_ids]
            x = x + self.p("embeddings.position_embeddings.weight")[seq]
            if "embeddings__token_type_embeddings__weight" in self.w:
                x = x + self.p("embeddings.token_type_embeddings.weight")[0]
            x = self.ln(x, "embeddings.LayerNorm")
            # unsqueeze, cast, 1 - m, * min: the order onnxruntime's attention fusion recognises
            bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
            hd = dim // heads
            batch = input_ids.shape[0]
            for i in range(layers):
                pre = f"encoder.layer.{i}."

                def split(t):  # noqa: ANN001, ANN202
                    return t.reshape(batch, -1, heads, hd).transpose(1, 2)

                q = split(self.lin(x, pre + "attention.self.query"))
                k = split(self.lin(x, pre + "attention.self.key"))
                v = split(self.lin(x, pre + "attention.self.value"))
                a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + bias, dim=-1) @ v
                a = a.transpose(1, 2).reshape(batch, -1, dim)
                x = self.ln(
                    self.lin(a, pre + "attention.output.dense") + x, pre + "attention.output.LayerNorm"
                )
                h = self.lin(x, pre + "intermediate.dense")
                h = (
                    F.relu(h)
                    if act == "relu"
                    else F.gelu(h, approximate="tanh" if act == "gelu_new" else "none")
                )
                x = self.ln(self.lin(h, pre + "output.dense") + x, pre + "output.LayerNorm")
            if info.pooling == "cls":
                pooled = x[:, 0]
            else:
                m = attention_mask.unsqueeze(-1).to(torch.float32)
                pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return F.normalize(pooled, dim=-1)

    return Bert().eval()


def _atomic_target(final: str) -> str:
    os.makedirs(os.path.dirname(final), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=os.path.dirname(final))
    os.close(fd)
    return tmp


def _export_traced(info: ModelInfo, final: str) -> None:
    torch = require("torch", extra="incontext", purpose="exporting the embedding model to ONNX")
    module = _bert_module(info)
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    tmp = _atomic_target(final)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (ids, (ids != 0).long()),
                tmp,
                input_names=["input_ids", "attention_mask"],
                output_names=["sentence_embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "sentence_embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, final)
    except OSError as exc:
        raise StorageError(f"cannot write the exported model to {info.folder}: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _fuse(info: ModelInfo, traced: str, final: str) -> None:
    """onnxruntime's transformer optimizer: one Attention op per layer (over the right-padded mask's
    lengths), SkipLayerNormalization, BiasGelu. Same vectors (cosine 1.00000), fewer, faster kernels."""
    from onnxruntime.transformers import optimizer

    cfg = _read_json(os.path.join(info.path, "config.json"))
    tmp = _atomic_target(final)
    try:
        with warnings.catch_warnings(), _quiet_root_logger():
            warnings.simplefilter("ignore")
            fused = optimizer.optimize_model(
                traced,
                model_type="bert",
                num_heads=int(cfg.get("num_attention_heads") or 0),
                hidden_size=info.dim,
                opt_level=0,
                use_gpu=False,
            )
            fused.save_model_to_file(tmp)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def export_traced(info: ModelInfo) -> str:
    """The model's traced fp32 ONNX file (the plain graph, before onnxruntime's fusion), exported at
    first use (a few seconds) and reused after. OpenVINO compiles this one: it fuses the plain graph
    itself, and does not know onnxruntime's contrib ops."""
    traced = os.path.join(info.folder, f"model-v{EXPORT_VERSION}-traced.onnx")
    if os.path.exists(traced):
        return traced
    why = onnx_supported(info)
    if why:
        raise ConfigError(f"{info.path}: cannot export to ONNX: {why}")
    _export_traced(info, traced)
    return traced


def export_onnx(info: ModelInfo) -> str:
    """The model's fp32 ONNX file for onnxruntime, made at first use and reused after: the traced
    graph (:func:`export_traced`, kept beside it), fused when the ``onnx`` package is there."""
    final = os.path.join(info.folder, f"model-v{EXPORT_VERSION}.onnx")
    if os.path.exists(final):
        return final
    traced = export_traced(info)  # raises when the model cannot be exported
    try:
        import onnx  # noqa: F401  (the optimizer's own dependency)
    except ImportError:
        return traced
    _fuse(info, traced, final)
    return final


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantiser logs advice to the root logger; a CLI has no use for it."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_int8(info: ModelInfo) -> str:
    """The model's int8 (dynamic quantisation of the weights, per output channel) ONNX file, made from
    the fused fp32 one once (the fused Attention's projections stay fp32: their per-tensor int8 costs
    too much quality)."""
    final = os.path.join(info.folder, f"model-v{EXPORT_VERSION}-int8.onnx")
    if os.path.exists(final):
        return final
    fp32 = export_onnx(info)
    onnx = require("onnx", extra="incontext", purpose="int8 quantisation")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = _atomic_target(final)
    try:
        with warnings.catch_warnings(), _quiet_root_logger():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                fp32,
                tmp,
                weight_type=QuantType.QInt8,
                per_channel=True,  # per-tensor scales cost MiniLM far more quality (cosine to fp32 down to 0.84)
                op_types_to_quantize=["MatMul", "Gemm"],
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return final

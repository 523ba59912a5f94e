"""The cross-encoder contradiction detector: the shipped MiniLM's top layers read both statements at once.

A "late" cross-encoder (the split of DeFormer, Cao et al. 2020): the lower ``split`` layers of the shipped
all-MiniLM-L6-v2 encode each statement on its own (so a statement is encoded once however many pairs it is
in, and the same pass gives its sentence vector for picking candidate pairs), then the top layers,
fine-tuned on public NLI data by ``scripts/train_cross_encoder.py``, attend over the two statements'
token states joined (``[CLS] a [SEP] b [SEP]``) and a small head gives P(contradiction / entailment /
neutral). Only the fine-tuned top layers and the head are saved (int8 weights with one scale per output
row, ~3.4 MB) as a delta over the base weights the package already has; no download, torch on CPU. No
weights ship yet (the package would read ``datamill/data/contradiction/cross_minilm.npz``): pass the file
the training script writes as ``weights=``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["CrossEncoder", "load_cross_encoder"]

_WEIGHTS = "cross_minilm.npz"
HIDDEN, HEADS, INTER = 384, 12, 1536
MAX_TOKENS = 64  # per statement; a pair is at most 128 tokens


def build_top(n_layers: int, n_classes: int = 3) -> Any:
    """The trainable top: ``n_layers`` BERT layers, a segment vector added to the second statement, a
    pooler on [CLS] and a classifier (a torch module)."""
    import torch
    from torch import nn

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q, self.k, self.v = (nn.Linear(HIDDEN, HIDDEN) for _ in range(3))
            self.o = nn.Linear(HIDDEN, HIDDEN)
            self.ln1 = nn.LayerNorm(HIDDEN, eps=1e-12)
            self.up = nn.Linear(HIDDEN, INTER)
            self.down = nn.Linear(INTER, HIDDEN)
            self.ln2 = nn.LayerNorm(HIDDEN, eps=1e-12)
            self.drop = nn.Dropout(0.1)

        def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            b, n, _ = h.shape

            def split(x: torch.Tensor) -> torch.Tensor:
                return x.view(b, n, HEADS, HIDDEN // HEADS).transpose(1, 2)

            att = split(self.q(h)) @ split(self.k(h)).transpose(-1, -2) / math.sqrt(HIDDEN // HEADS)
            att = self.drop(torch.softmax(att + bias, dim=-1))
            ctx = (att @ split(self.v(h))).transpose(1, 2).reshape(b, n, HIDDEN)
            h = self.ln1(h + self.drop(self.o(ctx)))
            return self.ln2(h + self.drop(self.down(nn.functional.gelu(self.up(h)))))

    class Top(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(Layer() for _ in range(n_layers))
            self.segment = nn.Parameter(torch.zeros(HIDDEN))
            self.pool = nn.Linear(HIDDEN, HIDDEN)
            self.cls = nn.Linear(HIDDEN, n_classes)
            self.drop = nn.Dropout(0.1)

        def forward(self, h: torch.Tensor, mask: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
            """Logits of joined token states ``h`` (b, n, d); ``mask`` 1 on real tokens, ``second`` 1 on
            the second statement's."""
            h = h + second.unsqueeze(-1) * self.segment
            bias = (1.0 - mask[:, None, None, :]) * -1e4
            for layer in self.layers:
                h = layer(h, bias)
            return self.cls(self.drop(torch.tanh(self.pool(h[:, 0]))))

    return Top()


def copy_bert_layers(top: Any, bert: Any, first: int) -> None:
    """Start ``top``'s layers from the base model's layers ``first``, ``first + 1``, ..."""
    import torch

    with torch.no_grad():
        for mine, theirs in zip(top.layers, bert.encoder.layer[first:], strict=False):
            att, out = theirs.attention, theirs.output
            pairs = [
                (mine.q, att.self.query),
                (mine.k, att.self.key),
                (mine.v, att.self.value),
                (mine.o, att.output.dense),
                (mine.ln1, att.output.LayerNorm),
                (mine.up, theirs.intermediate.dense),
                (mine.down, out.dense),
                (mine.ln2, out.LayerNorm),
            ]
            for a, b in pairs:
                a.weight.copy_(b.weight)
                a.bias.copy_(b.bias)


@dataclass
class CrossEncoder:
    """The base MiniLM (lower layers, per statement) and the fine-tuned top (per pair).

    ``classes`` name the outputs; ``threshold`` is the P(contradiction) from which a pair is reported;
    ``info`` records the training data and held-out scores; ``memo`` keeps each statement's encoding.
    """

    base: Any
    tokenizer: Any
    top: Any
    split: int
    classes: list[str]
    threshold: float
    info: dict[str, Any]
    memo: dict[str, tuple[np.ndarray, Any]] = field(default_factory=dict)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit sentence vectors (n, 384) of ``texts`` (the base model's mean-pooled output, as the shipped
        embedder gives them), remembering each statement's lower-layer token states for :meth:`score`."""
        import torch

        new = sorted(dict.fromkeys(t for t in texts if t not in self.memo), key=len)  # less padding
        for s in range(0, len(new), batch_size):
            chunk = new[s : s + batch_size]
            x = self.tokenizer(
                chunk, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
            )
            with torch.inference_mode():
                hs = self.base(**x, output_hidden_states=True).hidden_states
            mask = x["attention_mask"]
            pooled = (hs[-1] * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            pooled = torch.nn.functional.normalize(pooled, dim=-1).numpy()
            for i, t in enumerate(chunk):
                n = int(mask[i].sum())
                self.memo[t] = (pooled[i], hs[self.split][i, :n].clone())
        if not texts:
            return np.zeros((0, HIDDEN), dtype=np.float32)
        return np.stack([self.memo[t][0] for t in texts]).astype(np.float32)

    def probabilities(self, pairs: list[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """Class probabilities (n, classes) of statement pairs (encoded on the way when new)."""
        import torch

        self.encode([t for p in pairs for t in p])
        out = []
        for s in range(0, len(pairs), batch_size):
            h, mask, second = join_states(
                [(self.memo[a][1], self.memo[b][1]) for a, b in pairs[s : s + batch_size]]
            )
            with torch.inference_mode():
                out.append(torch.softmax(self.top(h, mask, second), dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), dtype=np.float32)

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """P(contradiction) of each pair; (n,) float32."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        return self.probabilities(pairs)[:, self.classes.index("contradiction")].astype(np.float32)


def join_states(pairs: list[tuple[Any, Any]]) -> tuple[Any, Any, Any]:
    """Pad the joined token states ``a + b[1:]`` (the second statement's [CLS] dropped) of each pair:
    (states (b, n, d), mask (b, n), second-statement mask (b, n))."""
    import torch

    n = max(len(a) + len(b) - 1 for a, b in pairs)
    h = torch.zeros(len(pairs), n, HIDDEN)
    mask = torch.zeros(len(pairs), n)
    second = torch.zeros(len(pairs), n)
    for i, (a, b) in enumerate(pairs):
        la, lb = len(a), len(b) - 1
        h[i, :la] = a.float()
        h[i, la : la + lb] = b[1:].float()
        mask[i, : la + lb] = 1
        second[i, la : la + lb] = 1
    return h, mask, second


def save_top(top: Any, path: str, *, split: int, classes: list[str], threshold: float, info: dict) -> None:
    """Write the top's weights (2-D ones as int8 with a float16 scale per output row, the rest float16)."""
    meta = {"split": split, "classes": classes, "threshold": threshold, "info": info}
    arrays: dict[str, Any] = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    for name, t in top.state_dict().items():
        w = t.detach().float().numpy()
        if w.ndim == 2 and w.shape[1] >= 64:
            scale = np.abs(w).max(axis=1, keepdims=True) / 127.0 + 1e-12
            arrays[f"q:{name}"] = np.round(w / scale).astype(np.int8)
            arrays[f"s:{name}"] = scale.astype(np.float16)
        else:
            arrays[f"f:{name}"] = w.astype(np.float16)
    np.savez_compressed(path, **arrays)


def load_top(path: Any) -> tuple[Any, dict[str, Any]]:
    """The top module and metadata saved by :func:`save_top`."""
    import torch

    with np.load(path) as z:
        meta = json.loads(z["meta"].tobytes().decode())
        state = {}
        for key in z.files:
            kind, _, name = key.partition(":")
            if kind == "q":
                state[name] = torch.from_numpy(z[key].astype(np.float32) * z[f"s:{name}"].astype(np.float32))
            elif kind == "f":
                state[name] = torch.from_numpy(z[key].astype(np.float32))
    n_layers = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("layers."))
    top = build_top(n_layers, len(meta["classes"]))
    top.load_state_dict(state)
    top.eval()
    return top, meta


@lru_cache(maxsize=2)
def load_cross_encoder(path: str | None = None) -> CrossEncoder:
    """The shipped cross-encoder (or the top saved at ``path`` by the training script), over the shipped
    all-MiniLM-L6-v2; loaded once per process."""
    from transformers import AutoModel, AutoTokenizer

    from datamill.diagnose.nli import read_weights
    from datamill.embed import default_model_path

    top, meta = read_weights(
        path,
        _WEIGHTS,
        load_top,
        "no cross-encoder weights ship with datamill yet (the one trained on this CPU did not beat "
        "the learned detector; docs/diagnose.md has the figures): train them with "
        "scripts/train_cross_encoder.py and pass weights=PATH",
    )
    base_path = default_model_path()
    base = AutoModel.from_pretrained(base_path)
    base.eval()
    return CrossEncoder(
        base,
        AutoTokenizer.from_pretrained(base_path),
        top,
        int(meta["split"]),
        list(meta["classes"]),
        float(meta["threshold"]),
        dict(meta["info"]),
    )

"""Token statistics of a fine-tuning set: per-example counts, limits, billed tokens and cost.

Counts follow OpenAI's chat accounting by default (3 tokens per message, 1 more for a name, 3 to
prime the reply, content counted with the model's encoding). Given a Hugging Face tokenizer folder
with a chat template (``chat_template=``), each example is rendered with that template instead and
the rendered text counted: what a local trainer actually sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from datamill.errors import ConfigError, require
from datamill.records import Example, Message, Preference, Record
from datamill.tokens import get_tokenizer

__all__ = ["TokenStats", "count_example_tokens", "default_epochs", "file_token_stats", "token_stats"]

# OpenAI's fine-tuning guide: default epochs aim at 3 passes within 100..25,000 example-passes.
_TARGET_EPOCHS, _MIN_TARGET, _MAX_TARGET, _MIN_EPOCHS, _MAX_EPOCHS = 3, 100, 25_000, 1, 25


def default_epochs(n_examples: int) -> int:
    """The number of epochs OpenAI picks by default for a set of ``n_examples``."""
    if n_examples <= 0:
        return _TARGET_EPOCHS
    if n_examples * _TARGET_EPOCHS < _MIN_TARGET:
        return min(_MAX_EPOCHS, _MIN_TARGET // n_examples)
    if n_examples * _TARGET_EPOCHS > _MAX_TARGET:
        return max(_MIN_EPOCHS, _MAX_TARGET // n_examples)
    return _TARGET_EPOCHS


def _text(m: Message) -> str:
    if isinstance(m.content, list):
        return "".join(p.get("text", "") for p in m.content if isinstance(p, dict))
    return m.content or ""


def _messages_of(rec: Record) -> list[Message] | None:
    if isinstance(rec, Example):
        return rec.messages
    if isinstance(rec, Preference):
        prompt = (
            [Message(role="user", content=rec.prompt)] if isinstance(rec.prompt, str) else list(rec.prompt)
        )
        chosen = (
            [Message(role="assistant", content=rec.chosen)]
            if isinstance(rec.chosen, str)
            else list(rec.chosen)
        )
        rejected = (
            [Message(role="assistant", content=rec.rejected)]
            if isinstance(rec.rejected, str)
            else list(rec.rejected)
        )
        return prompt + (chosen if len(_joined(chosen)) >= len(_joined(rejected)) else rejected)
    return None


def _joined(msgs: list[Message]) -> str:
    return "".join(_text(m) for m in msgs)


def count_example_tokens(
    records: Sequence[Record], *, tokenizer: str = "cl100k_base", chat_template: str | None = None
) -> list[int]:
    """Tokens per example (a preference pair counts its prompt plus the longer answer)."""
    if chat_template is not None:
        return _count_with_template(records, chat_template)
    tok = get_tokenizer(tokenizer)
    texts: list[str] = []
    fixed: list[int] = []
    spans: list[tuple[int, int]] = []
    for rec in records:
        msgs = _messages_of(rec)
        start = len(texts)
        if msgs is None:
            texts.append(getattr(rec, "input", None) or "")
            fixed.append(0)
        else:
            extra = 3  # every reply is primed with <|start|>assistant<|message|>
            for m in msgs:
                texts.append(m.role)
                texts.append(_text(m))
                extra += 3
                if m.name:
                    texts.append(m.name)
                    extra += 1
                for call in m.tool_calls or []:
                    texts.append(orjson.dumps(call.get("function", call)).decode())
                if m.function_call:
                    texts.append(orjson.dumps(m.function_call).decode())
            fixed.append(extra)
        spans.append((start, len(texts)))
    # roles, system prompts and repeated turns are counted once
    unique = dict.fromkeys(texts)
    unique_counts = dict(zip(unique, tok.count_batch(list(unique)), strict=True))
    counts = [unique_counts[t] for t in texts]
    return [fixed[i] + sum(counts[a:b]) for i, (a, b) in enumerate(spans)]


def _count_with_template(records: Sequence[Record], path: str) -> list[int]:
    transformers = require("transformers", extra="finetune", purpose="chat-template token counts")
    try:
        tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:  # no such folder / no tokenizer files in it
        raise ConfigError(
            f"chat_template: cannot load a tokenizer from {path}: {exc}", params="chat_template"
        ) from None
    if not getattr(tok, "chat_template", None):
        raise ConfigError(
            f"chat_template: the tokenizer at {path} has no chat template", params="chat_template"
        )
    out = []
    for rec in records:
        msgs = _messages_of(rec)
        if msgs is None:
            out.append(len(tok(getattr(rec, "input", None) or "", add_special_tokens=False)["input_ids"]))
            continue
        rendered = tok.apply_chat_template(
            [{"role": m.role, "content": _text(m)} for m in msgs], tokenize=False
        )
        out.append(len(tok(rendered, add_special_tokens=False)["input_ids"]))
    return out


@dataclass
class TokenStats:
    """Distribution of tokens per example and what training on them would bill."""

    tokenizer: str
    examples: int
    total: int
    min: int
    max: int
    mean: float
    p50: float
    p90: float
    p99: float
    max_tokens: int
    over_limit: int
    epochs: int
    billed_tokens: int
    cost: float | None
    histogram: list[tuple[int, int, int]] = field(default_factory=list)  # (lo, hi, count)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["histogram"] = [{"lo": lo, "hi": hi, "count": n} for lo, hi, n in self.histogram]
        return d


def _check_billing(*, max_tokens: int, epochs: int | None, price_per_million: float | None) -> None:
    """ConfigError naming the parameter when a token limit, epoch count or price cannot be right."""
    if max_tokens < 1:
        raise ConfigError(f"max_tokens must be >= 1, got {max_tokens!r}", params="max_tokens")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs!r}", params="epochs")
    if price_per_million is not None and not price_per_million >= 0:
        raise ConfigError(
            f"price_per_million must be >= 0, got {price_per_million!r}", params="price_per_million"
        )


def token_stats(
    counts: Sequence[int],
    *,
    max_tokens: int = 16385,
    epochs: int | None = None,
    price_per_million: float | None = None,
    tokenizer: str = "cl100k_base",
    bins: int = 10,
) -> TokenStats:
    """Summarise token counts: percentiles, a histogram, examples over ``max_tokens``, and billing
    (each example billed up to ``max_tokens``, times ``epochs``; OpenAI's default when None)."""
    _check_billing(max_tokens=max_tokens, epochs=epochs, price_per_million=price_per_million)
    arr = np.asarray(counts, dtype=np.int64)
    n = len(arr)
    ep = epochs if epochs is not None else default_epochs(n)
    billed = int(np.minimum(arr, max_tokens).sum()) * ep if n else 0
    hist: list[tuple[int, int, int]] = []
    if n:
        edges = np.unique(np.linspace(arr.min(), arr.max() + 1, bins + 1).astype(np.int64))
        if len(edges) < 2:
            edges = np.array([arr.min(), arr.min() + 1])
        h, e = np.histogram(arr, bins=edges)
        hist = [(int(e[i]), int(e[i + 1]) - 1, int(h[i])) for i in range(len(h))]
    pct = np.percentile(arr, [50, 90, 99]) if n else np.zeros(3)
    return TokenStats(
        tokenizer=tokenizer,
        examples=n,
        total=int(arr.sum()),
        min=int(arr.min()) if n else 0,
        max=int(arr.max()) if n else 0,
        mean=float(arr.mean()) if n else 0.0,
        p50=float(pct[0]),
        p90=float(pct[1]),
        p99=float(pct[2]),
        max_tokens=max_tokens,
        over_limit=int((arr > max_tokens).sum()),
        epochs=ep,
        billed_tokens=billed,
        cost=None if price_per_million is None else billed / 1e6 * price_per_million,
        histogram=hist,
    )


def file_token_stats(
    source: Any,
    *,
    format: str = "auto",
    max_tokens: int = 16385,  # noqa: A002
    tokenizer: str = "cl100k_base",
    chat_template: str | None = None,
    epochs: int | None = None,
    price_per_million: float | None = None,
) -> TokenStats:
    """:func:`token_stats` of a fine-tuning file, folder or HF dataset (read with
    :func:`~datamill.finetune.read_examples`); the billing options are checked before anything is read."""
    from datamill.finetune.formats import read_examples

    _check_billing(max_tokens=max_tokens, epochs=epochs, price_per_million=price_per_million)
    counts = count_example_tokens(
        list(read_examples(source, format=format)), tokenizer=tokenizer, chat_template=chat_template
    )
    return token_stats(
        counts,
        max_tokens=max_tokens,
        epochs=epochs,
        price_per_million=price_per_million,
        tokenizer=chat_template or tokenizer,
    )

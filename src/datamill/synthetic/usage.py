"""What teacher requests cost and what a run did: the price table, :func:`price_of`, and :class:`Usage`, the
totals of one or more runs (requests, cache hits, tokens, cost, failures, invalid output by reason) with its
Rich summary table. :mod:`datamill.synthetic.engine` fills them in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PRICES", "Usage", "price_of"]

#: USD per 1M tokens (input, output) by model-name prefix; models on this machine cost 0, others not listed
#: (or given in ``prices``) are not priced (their cost is "unknown", with a warning).
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-haiku": (0.25, 1.25),
}


_UNPRICED_WARNED: set[str] = set()


def price_of(
    model: str, prices: dict[str, Sequence[float]] | None = None, *, warn: bool = True
) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens for ``model``: the longest matching prefix in ``prices`` or PRICES.

    None for a model no table prices, with a warning (once per model, unless ``warn`` is false: a model
    running on this machine costs nothing) instead of a silent $0.
    """
    table = {**PRICES, **{k: (float(v[0]), float(v[1])) for k, v in (prices or {}).items()}}
    name = model.split("/")[-1].lower()
    best = max((k for k in table if name.startswith(k.lower())), key=len, default=None)
    if best is not None:
        return table[best]
    if warn and model not in _UNPRICED_WARNED:
        import warnings

        _UNPRICED_WARNED.add(model)
        warnings.warn(
            f"no price known for model {model!r}: its cost is not estimated; pass prices="
            f"{{{model!r}: (input, output)}} in USD per 1M tokens",
            UserWarning,
            stacklevel=2,
        )
    return None


@dataclass
class Usage:
    """Totals of one or more runs: requests, cache hits, tokens, cost, failures and invalid output by reason."""

    model: str = ""
    jobs: int = 0
    done: int = 0
    requests: int = 0  # answers received (paid)
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    failed: int = 0  # teacher errors past retries (retried on the next run)
    first_failure: str | None = None  # the first of those errors, as the teacher reported it
    invalid: Counter[str] = field(default_factory=Counter)  # invalid answers seen, by reason
    quarantined: Counter[str] = field(default_factory=Counter)  # jobs given up, by reason
    retries: Counter[str] = field(default_factory=Counter)  # transport retries, by reason
    seconds: float = 0.0
    priced: bool = True  # False: the model has no known price, so ``cost`` is not an estimate

    @property
    def throughput(self) -> float:
        """Finished jobs per second."""
        return self.done / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "jobs": self.jobs,
            "done": self.done,
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost, 6) if self.priced else None,
            "failed": self.failed,
            "first_failure": self.first_failure,
            "invalid": dict(self.invalid),
            "quarantined": dict(self.quarantined),
            "retries": dict(self.retries),
            "seconds": round(self.seconds, 3),
            "jobs_per_second": round(self.throughput, 2),
        }

    def table(self, title: str = "Teacher usage") -> Any:
        """A Rich summary table."""
        from rich.table import Table

        t = Table(title=title, title_justify="left", show_header=False)
        t.add_column(style="bold")
        t.add_column(justify="right")
        rows = [
            ("model", self.model),
            ("jobs done", f"{self.done:,} / {self.jobs:,}"),
            ("requests answered", f"{self.requests:,}"),
            ("cache hits", f"{self.cache_hits:,}"),
            ("prompt tokens", f"{self.prompt_tokens:,}"),
            ("completion tokens", f"{self.completion_tokens:,}"),
            ("estimated cost", f"${self.cost:,.4f}" if self.priced else "unknown (no price for this model)"),
            ("throughput", f"{self.throughput:,.1f} jobs/s"),
            ("time", f"{self.seconds:,.1f} s"),
        ]
        for label, counter in (
            ("retries", self.retries),
            ("invalid answers", self.invalid),
            ("quarantined", self.quarantined),
        ):
            if counter:
                rows.append((label, ", ".join(f"{k} {v:,}" for k, v in counter.most_common())))
        if self.failed:
            rows.append(("failed (retried next run)", f"{self.failed:,}"))
        for k, v in rows:
            t.add_row(k, v)
        return t

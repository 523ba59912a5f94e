"""Pick few-shot examples for a query from a pool of labelled examples.

Strategies: ``random`` (seeded), ``knn`` (most similar), ``mmr`` (maximal marginal relevance:
similar to the query, different from each other, ``lambda_`` trades the two), ``balanced`` (most
similar per label, round-robin over labels), ``length`` (most similar that fit ``token_budget``).
Deterministic: ties break by pool order, randomness comes from ``seed``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datamill.errors import ConfigError
from datamill.records import Example, Message
from datamill.tokens import get_tokenizer

__all__ = ["FewShotSelector", "STRATEGIES", "evaluate_selection", "example_io"]

STRATEGIES = ("random", "knn", "mmr", "balanced", "length")


def _text(m: Message) -> str:
    return m.content if isinstance(m.content, str) else ""


def example_io(ex: Example) -> tuple[str, str]:
    """(input, output) text of an example, whether it has ``input``/``output`` or ``messages``."""
    if ex.messages:
        users = [_text(m) for m in ex.messages if m.role == "user"]
        outs = [_text(m) for m in ex.messages if m.role == "assistant"]
        return "\n".join(users), (outs[-1] if outs else (ex.output or ""))
    out = ex.output if ex.output is not None else ("" if ex.label is None else str(ex.label))
    return ex.input or "", out


class FewShotSelector:
    """Embeds the pool once; ``select(query, k, strategy=...)`` returns examples from it."""

    def __init__(
        self,
        pool: Sequence[Example],
        *,
        model: str = "all-MiniLM-L6-v2",
        tokenizer: str = "cl100k_base",
        label_field: str = "label",
    ) -> None:
        if not pool:
            raise ConfigError("the example pool is empty")
        self.pool = list(pool)
        self.label_field = label_field
        self.model = model
        self._tok = get_tokenizer(tokenizer)
        self._vecs: np.ndarray | None = None
        self.lengths = self._tok.count_batch([" ".join(example_io(e)) for e in self.pool])

    def _embed(self, texts: list[str]) -> np.ndarray:
        from datamill.embed import get_embedder

        return get_embedder(self.model).encode(texts)

    @property
    def vectors(self) -> np.ndarray:
        if self._vecs is None:
            self._vecs = self._embed([example_io(e)[0] for e in self.pool])
        return self._vecs

    def select(
        self,
        query: str,
        k: int = 4,
        *,
        strategy: str = "knn",
        seed: int = 0,
        lambda_: float = 0.5,
        token_budget: int | None = None,
        exclude_ids: set[str] | None = None,
    ) -> list[Example]:
        if strategy not in STRATEGIES:
            raise ConfigError(
                f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}", params="strategy"
            )
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k!r}", params="k")
        if strategy == "balanced":
            self._check_labels()
        allowed = [i for i, e in enumerate(self.pool) if not exclude_ids or e.id not in exclude_ids]
        if strategy == "random":
            rng = random.Random(seed)
            picked = rng.sample(allowed, min(k, len(allowed)))
        else:
            sims = self.vectors[allowed] @ self._embed([query])[0]
            order = [allowed[j] for j in np.argsort(-sims, kind="stable")]
            sim_of = {allowed[j]: float(s) for j, s in enumerate(sims)}
            if strategy == "knn":
                picked = order[:k]
            elif strategy == "mmr":
                picked = self._mmr(order, sim_of, k, lambda_)
            elif strategy == "balanced":
                by_label: dict[str, list[int]] = defaultdict(list)
                for i in order:
                    by_label[repr(self.label_of(self.pool[i]))].append(i)
                labels = sorted(by_label, key=lambda lb: -sim_of[by_label[lb][0]])
                picked = []
                while len(picked) < k and any(by_label.values()):
                    for lb in labels:
                        if by_label[lb] and len(picked) < k:
                            picked.append(by_label[lb].pop(0))
            else:  # length: most similar first, skip what does not fit the budget
                if token_budget is None:
                    raise ConfigError("strategy 'length' needs token_budget", params="token_budget")
                picked, used = [], 0
                for i in order:
                    if used + self.lengths[i] <= token_budget:
                        picked.append(i)
                        used += self.lengths[i]
                        if len(picked) == k:
                            break
        if token_budget is not None and strategy != "length":
            kept, used = [], 0
            for i in picked:
                if used + self.lengths[i] <= token_budget:
                    kept.append(i)
                    used += self.lengths[i]
            picked = kept
        return [self.pool[i] for i in picked]

    def label_of(self, ex: Example) -> Any:
        """The example's label: its ``label``, or the metadata key ``label_field`` names."""
        if self.label_field == "label":
            return ex.label
        return ex.metadata.get(self.label_field)

    def _check_labels(self) -> None:
        """A balanced selection over a pool without labels would silently be plain kNN: refuse instead."""
        if any(self.label_of(e) is not None for e in self.pool):
            return
        keys = sorted(
            {k for e in self.pool for k in e.metadata if k not in ("format", "row_fields", "alpaca")}
        )
        raise ConfigError(
            f"strategy 'balanced' needs labels, but no example in the pool has "
            f"{'a label' if self.label_field == 'label' else repr(self.label_field)}; "
            f"say which field holds the label with label_field; fields examples have: "
            f"{', '.join(keys) or 'none'}",
            params="label_field",
        )

    def _mmr(self, order: list[int], sim_of: dict[int, float], k: int, lambda_: float) -> list[int]:
        cand = order[: max(k * 10, 50)]
        vecs = self.vectors
        picked: list[int] = []
        while cand and len(picked) < k:
            if not picked:
                best = cand[0]
            else:
                red = np.max(vecs[cand] @ vecs[picked].T, axis=1)
                scores = [
                    lambda_ * sim_of[c] - (1 - lambda_) * r for c, r in zip(cand, red.tolist(), strict=True)
                ]
                best = cand[int(np.argmax(scores))]
            picked.append(best)
            cand.remove(best)
        return picked


@dataclass
class SelectionScore:
    strategy: str
    accuracy: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "accuracy": self.accuracy, "n": self.n}


def evaluate_selection(
    pool: Sequence[Example],
    eval_set: Sequence[Example],
    model: Callable[[str, list[Example]], str],
    *,
    k: int = 4,
    strategies: Sequence[str] = ("random", "knn", "mmr", "balanced"),
    seed: int = 0,
    match: Callable[[str, str], bool] | None = None,
) -> list[SelectionScore]:
    """Accuracy of ``model(query, shots) -> answer`` on ``eval_set`` for each selection strategy.

    An answer is right when ``match(answer, expected)`` (default: equal after strip/lower).
    """
    match = match or (lambda a, b: a.strip().lower() == b.strip().lower())
    sel = FewShotSelector(pool)
    out = []
    for strategy in strategies:
        right = 0
        for ex in eval_set:
            q, expected = example_io(ex)
            shots = sel.select(q, k, strategy=strategy, seed=seed, exclude_ids={ex.id})
            right += bool(match(model(q, shots), expected))
        out.append(SelectionScore(strategy, right / len(eval_set) if eval_set else 0.0, len(eval_set)))
    return out

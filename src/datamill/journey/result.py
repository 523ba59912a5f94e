"""What a journey reports (:class:`JourneyResult`), the shape of its data, and the small text helpers its
stages share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from datamill.records import Message

__all__ = [
    "GROUNDED_PROMPT",
    "HELD_OUT_EVERY",
    "HELD_OUT_PHRASINGS",
    "JourneyResult",
    "NUMBER",
    "PHRASINGS",
    "SYSTEM",
    "answer_text",
    "f1",
]

_WORD = re.compile(r"\w+")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
HELD_OUT_EVERY = 4  # questions about every 4th page are kept out of training
PHRASINGS = 3  # each training question is also asked in this many other words
HELD_OUT_PHRASINGS = 2  # and in this many more, held out of training
SYSTEM = "Answer the user's question from the passage they give, and only from it."
GROUNDED_PROMPT = "<passage>\n{passage}\n</passage>\n\n{question}"


@dataclass
class JourneyResult:
    """Per-stage counts and outputs, and the lineage check of every exported fine-tune example."""

    root: str
    stages: list[dict[str, Any]] = field(default_factory=list)
    finetune_ids: list[str] = field(default_factory=list)
    lineage_complete: int = 0
    seconds: float = 0.0
    causes: dict[str, int] = field(default_factory=dict)
    requests: int = 0

    def stage(self, name: str, n_in: int, n_out: int, note: str, where: str) -> None:
        self.stages.append({"stage": name, "in": n_in, "out": n_out, "note": note, "where": where})


def f1(a: str, b: str) -> float:
    x, y = _WORD.findall(a.lower()), _WORD.findall(b.lower())
    common = sum(min(x.count(w), y.count(w)) for w in set(x))
    if not common:
        return 0.0
    p, r = common / len(x), common / len(y)
    return 2 * p * r / (p + r)


def answer_text(value: Any) -> str:
    """The text of an answer: a string, or the last message of a message list."""
    if isinstance(value, list) and value:
        last = value[-1]
        return str(
            last.content
            if isinstance(last, Message)
            else last.get("content", "")
            if isinstance(last, dict)
            else last
        )
    return str(value or "")

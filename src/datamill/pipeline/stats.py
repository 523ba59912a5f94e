"""Per-step counters: seen, kept, dropped by reason (with a few examples), time spent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StepStats"]

_EXAMPLES_PER_REASON = 3
_SNIPPET = 200


@dataclass
class StepStats:
    """Counts for one step; merge the stats of many shards with :meth:`merge`."""

    name: str
    seen: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def drop(self, reason: str, record: Any = None) -> None:
        self.dropped[reason] += 1
        if record is not None:
            ex = self.examples.setdefault(reason, [])
            if len(ex) < _EXAMPLES_PER_REASON:
                text = getattr(record, "text", None) or getattr(record, "output", None) or ""
                ex.append({"id": str(getattr(record, "id", "")), "snippet": str(text)[:_SNIPPET]})

    def merge(self, other: StepStats) -> StepStats:
        self.seen += other.seen
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.counters.update(other.counters)
        self.seconds += other.seconds
        for reason, ex in other.examples.items():
            mine = self.examples.setdefault(reason, [])
            mine.extend(ex[: max(0, _EXAMPLES_PER_REASON - len(mine))])
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seen": self.seen,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "counters": dict(sorted(self.counters.items())),
            "examples": self.examples,
            "seconds": round(self.seconds, 4),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepStats:
        return cls(
            name=d["name"],
            seen=d["seen"],
            kept=d["kept"],
            dropped=Counter(d.get("dropped", {})),
            examples=d.get("examples", {}),
            counters=Counter(d.get("counters", {})),
            seconds=d.get("seconds", 0.0),
        )

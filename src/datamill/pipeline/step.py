"""The step contract: ``step(records) -> records``, with counters the base class keeps.

* :class:`Step` - any transformation ``__call__(Iterable[R]) -> Iterator[R]``.
* :class:`Filter` - implement ``keep(rec) -> bool | str`` (a string is the drop reason).
* :class:`Mapper` - implement ``apply(rec) -> rec`` (return ``None`` to drop with reason "mapper").
* :class:`GlobalStep` - a decision that needs every shard (dedup): ``collect`` per shard,
  one ``reduce``, then ``apply`` per shard. Executors run those passes in order.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

from datamill.pipeline.registry import Component
from datamill.pipeline.stats import StepStats
from datamill.records import Document

__all__ = ["Filter", "GlobalStep", "Mapper", "Step", "pass_through_batches"]

R = TypeVar("R")


class Step(Component, Generic[R]):
    """A pipeline step. Subclasses set ``name`` and take keyword-only parameters."""

    kind: ClassVar[str] = "step"

    @property
    def stats(self) -> StepStats:
        st = self.__dict__.get("_stats")
        if st is None:
            st = self.__dict__["_stats"] = StepStats(self.name or type(self).__name__)
        return st

    def reset_stats(self) -> StepStats:
        """Return the current stats and start counting afresh."""
        st = self.stats
        self.__dict__["_stats"] = StepStats(st.name)
        return st

    @abstractmethod
    def __call__(self, records: Iterable[R]) -> Iterator[R]:
        """The records out for ``records`` in (counting into :attr:`stats`)."""


class _Drop:
    """What a per-record decision returns to drop the record, with the reason to count."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _PerRecord(Step[R]):
    """The loop Filter and Mapper share: time each decision, count kept and dropped-by-reason."""

    @property
    def default_reason(self) -> str:
        return self.name.split(".")[-1] if self.name else type(self).__name__

    @abstractmethod
    def _decide(self, rec: R) -> R | _Drop:
        """The record to keep (possibly changed), or a :class:`_Drop` with the reason."""

    def __call__(self, records: Iterable[R]) -> Iterator[R]:
        st = self.stats
        for rec in records:
            t0 = time.perf_counter()
            st.seen += 1
            out = self._decide(rec)
            st.seconds += time.perf_counter() - t0
            if isinstance(out, _Drop):
                st.drop(out.reason, rec)
            else:
                st.kept += 1
                yield out


class Filter(_PerRecord[R]):
    """Keep records for which ``keep`` returns True; a returned string names the drop reason."""

    @abstractmethod
    def keep(self, rec: R) -> bool | str:
        """True to keep ``rec``; False or a drop reason to drop it."""

    def _decide(self, rec: R) -> R | _Drop:
        verdict = self.keep(rec)
        if verdict is True:
            return rec
        return _Drop(verdict if isinstance(verdict, str) and verdict else self.default_reason)


class Mapper(_PerRecord[R]):
    """Transform each record with ``apply``; ``None`` drops it (reason: the step's name)."""

    @abstractmethod
    def apply(self, rec: R) -> R | None:
        """The record to keep in place of ``rec``, or None to drop it."""

    def _decide(self, rec: R) -> R | _Drop:
        out = self.apply(rec)
        return _Drop(self.default_reason) if out is None else out


class GlobalStep(Step[R]):
    """A step whose decision needs all shards: collect -> reduce -> apply.

    ``collect`` passes records through while writing what it needs under ``workdir`` for this shard;
    ``reduce`` reads every shard's files and writes its decisions under ``workdir``; ``apply`` uses
    them on each shard. ``__call__`` must give the same result on a single in-memory stream.
    A ``reduce`` that takes an ``executor`` keyword receives the run's executor (to shuffle on Ray).
    """

    @abstractmethod
    def collect(self, records: Iterable[R], *, shard: int, workdir: str) -> Iterator[R]:
        """Pass this shard's records through, writing what :meth:`reduce` needs under ``workdir``."""

    @abstractmethod
    def reduce(self, *, workdir: str, num_shards: int) -> dict[str, Any]:
        """Combine every shard's collected data; returns a small summary for the manifest."""

    @abstractmethod
    def apply(self, records: Iterable[R], *, shard: int, workdir: str) -> Iterator[R]:
        """This shard's records after the decisions :meth:`reduce` wrote."""


def pass_through_batches(
    records: Iterable[Document],
    compute: Callable[[list[str]], Any],
    *,
    batch: int,
    ids: list[str],
    results: list[Any],
) -> Generator[Document, None, float]:
    """Yield ``records`` unchanged while ``compute`` runs over their texts, ``batch`` at a time.

    The shape of a :meth:`GlobalStep.collect` that turns texts into arrays (MinHash signatures,
    embeddings): each record's id goes to ``ids`` and each batch's result to ``results``; the value
    returned (``seconds = yield from ...``) is the time spent in ``compute``.
    """
    seconds, texts = 0.0, []
    for rec in records:
        texts.append(rec.text)
        ids.append(rec.id)
        yield rec
        if len(texts) >= batch:
            t0 = time.perf_counter()
            results.append(compute(texts))
            seconds += time.perf_counter() - t0
            texts = []
    if texts:
        t0 = time.perf_counter()
        results.append(compute(texts))
        seconds += time.perf_counter() - t0
    return seconds

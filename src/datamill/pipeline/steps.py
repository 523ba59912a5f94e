"""Core steps any pipeline can use: length filter, regex filter, exact dedup across shards."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import xxhash

from datamill.errors import ConfigError
from datamill.pipeline.step import Filter, GlobalStep
from datamill.records import Record

__all__ = ["ExactDedup", "LengthFilter", "RegexFilter", "record_text"]

_WS = re.compile(r"\s+")


def record_text(rec: Any, field: str = "text") -> str:
    """The text of a record used by text steps: ``field`` if present, else every text-bearing field."""
    value = getattr(rec, field, None)
    if isinstance(value, str):
        return value
    if isinstance(rec, Record):
        parts = []
        for key, v in rec.to_dict().items():
            if key in ("type", "id", "metadata", "provenance"):
                continue
            if isinstance(v, str):
                parts.append(v)
            elif isinstance(v, list):
                parts.extend(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in v)
        return "\n".join(parts)
    raise ConfigError(f"record {rec!r} has no text field {field!r}")


class LengthFilter(Filter[Record]):
    """Drop records whose text is shorter or longer than the limits (characters and words)."""

    name = "filter.length"

    def __init__(
        self,
        *,
        min_chars: int = 0,
        max_chars: int | None = None,
        min_words: int = 0,
        max_words: int | None = None,
        field: str = "text",
    ) -> None:
        for key, v in (("min_chars", min_chars), ("min_words", min_words)):
            if v < 0:
                raise ConfigError(f"{key} must be >= 0, got {v!r}")
        self.min_chars, self.max_chars = min_chars, max_chars
        self.min_words, self.max_words = min_words, max_words
        self.field = field

    def keep(self, rec: Record) -> bool | str:
        text = record_text(rec, self.field)
        n = len(text)
        if n < self.min_chars:
            return "too_few_chars"
        if self.max_chars is not None and n > self.max_chars:
            return "too_many_chars"
        if self.min_words or self.max_words is not None:
            words = len(text.split())
            if words < self.min_words:
                return "too_few_words"
            if self.max_words is not None and words > self.max_words:
                return "too_many_words"
        return True


class RegexFilter(Filter[Record]):
    """Drop records whose text matches ``pattern`` (or, with ``keep_matching``, those that do not)."""

    name = "filter.regex"

    def __init__(
        self,
        *,
        pattern: str,
        keep_matching: bool = False,
        ignore_case: bool = True,
        field: str = "text",
        reason: str = "regex",
    ) -> None:
        try:
            self._re = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            raise ConfigError(f"bad regex {pattern!r}: {exc}") from None
        self.keep_matching, self.field, self.reason = keep_matching, field, reason

    def keep(self, rec: Record) -> bool | str:
        hit = self._re.search(record_text(rec, self.field)) is not None
        return True if hit == self.keep_matching else self.reason


class ExactDedup(GlobalStep[Record]):
    """Drop exact duplicates across all shards, keeping the first occurrence (by shard, then position).

    ``normalize`` lowercases and collapses white space before hashing. Hashes are 128-bit xxh3.
    """

    name = "dedup.exact"
    reason = "exact_duplicate"  # subclasses with another key (URL dedup) name their own drop reason

    def __init__(self, *, field: str = "text", normalize: bool = True) -> None:
        self.field, self.normalize = field, normalize

    def _key(self, rec: Record) -> bytes:
        text = record_text(rec, self.field)
        if self.normalize:
            text = _WS.sub(" ", text.lower()).strip()
        return xxhash.xxh3_128_digest(text.encode("utf-8", "surrogatepass"))

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        st = self.stats
        seen: set[bytes] = set()
        for rec in records:
            st.seen += 1
            key = self._key(rec)
            if key in seen:
                st.drop(self.reason, rec)
                continue
            seen.add(key)
            st.kept += 1
            yield rec

    def collect(self, records: Iterable[Record], *, shard: int, workdir: str) -> Iterator[Record]:
        keys: list[bytes] = []
        for rec in records:
            keys.append(self._key(rec))
            yield rec
        arr = (
            np.frombuffer(b"".join(keys), dtype=np.uint64).reshape(-1, 2)
            if keys
            else np.zeros((0, 2), np.uint64)
        )
        np.save(os.path.join(workdir, f"hashes-{shard:05d}.npy"), arr)

    def reduce(self, *, workdir: str, num_shards: int) -> dict[str, Any]:
        parts, shard_ids, positions = [], [], []
        for s in range(num_shards):
            arr = np.load(os.path.join(workdir, f"hashes-{s:05d}.npy"))
            parts.append(arr)
            shard_ids.append(np.full(len(arr), s, dtype=np.int64))
            positions.append(np.arange(len(arr), dtype=np.int64))
        hashes = np.concatenate(parts) if parts else np.zeros((0, 2), np.uint64)
        shards = np.concatenate(shard_ids) if shard_ids else np.zeros(0, np.int64)
        pos = np.concatenate(positions) if positions else np.zeros(0, np.int64)
        order = np.lexsort((pos, shards, hashes[:, 1], hashes[:, 0]))
        h = hashes[order]
        dup = np.zeros(len(order), dtype=bool)
        if len(order) > 1:
            dup[1:] = (h[1:, 0] == h[:-1, 0]) & (h[1:, 1] == h[:-1, 1])
        drop_shards, drop_pos = shards[order][dup], pos[order][dup]
        for s in range(num_shards):
            np.save(os.path.join(workdir, f"drop-{s:05d}.npy"), np.sort(drop_pos[drop_shards == s]))
        return {"records": int(len(order)), "duplicates": int(dup.sum())}

    def apply(self, records: Iterable[Record], *, shard: int, workdir: str) -> Iterator[Record]:
        st = self.stats
        drop = set(np.load(os.path.join(workdir, f"drop-{shard:05d}.npy")).tolist())
        for i, rec in enumerate(records):
            st.seen += 1
            if i in drop:
                st.drop(self.reason, rec)
            else:
                st.kept += 1
                yield rec

"""Core steps any pipeline can use: length filter, regex filter, exact dedup across shards."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import xxhash

from datamill.errors import ConfigError
from datamill.io import storage
from datamill.pipeline.shuffle import atomic_json, read_partition, run_tasks, write_partitioned
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
        storage.save_npy(storage.join(workdir, f"hashes-{shard:05d}.npy"), arr)

    def reduce(self, *, workdir: str, num_shards: int, executor: Any = None) -> dict[str, Any]:
        """A hash shuffle on ``executor``: each shard's keys are partitioned by hash (one partition per
        shard), each partition keeps the first (shard, position) of every key and routes the others'
        positions back to their shards."""
        parts = max(1, num_shards)
        run_tasks(
            executor,
            _partition_hashes,
            [(workdir, s, parts) for s in range(num_shards)],
            [_xpath(workdir, "keys", s) + ".json" for s in range(num_shards)],
        )
        done = run_tasks(
            executor,
            _first_of_each_key,
            [(workdir, p, num_shards) for p in range(parts)],
            [_xpath(workdir, "drop", p) + ".json" for p in range(parts)],
        )
        atomic_json(storage.join(workdir, "exact", "plan.json"), {"partitions": parts})
        return {
            "records": sum(r["records"] for r in done),
            "duplicates": sum(r["duplicates"] for r in done),
            "partitions": parts,
        }

    def apply(self, records: Iterable[Record], *, shard: int, workdir: str) -> Iterator[Record]:
        st = self.stats
        parts = storage.read_json(storage.join(workdir, "exact", "plan.json"))["partitions"]
        paths = [_xpath(workdir, "drop", p) for p in range(parts)]
        drop = set(read_partition(paths, shard, ("pos",))["pos"].tolist())
        for i, rec in enumerate(records):
            st.seen += 1
            if i in drop:
                st.drop(self.reason, rec)
            else:
                st.kept += 1
                yield rec


def _xpath(workdir: str, phase: str, i: int) -> str:
    return storage.join(workdir, "exact", phase, f"part-{i:05d}.arrow")


def _partition_hashes(workdir: str, shard: int, num_partitions: int) -> dict[str, Any]:
    """Map: one shard's 128-bit keys with their positions, hash-partitioned."""
    h = storage.load_npy(storage.join(workdir, f"hashes-{shard:05d}.npy"))
    cols = {"h0": h[:, 0], "h1": h[:, 1], "pos": np.arange(len(h), dtype=np.int64)}
    write_partitioned(
        _xpath(workdir, "keys", shard), cols, (h[:, 0] % num_partitions).astype(np.int64), num_partitions
    )
    return {"records": len(h)}


def _first_of_each_key(workdir: str, partition: int, num_shards: int) -> dict[str, Any]:
    """Reduce: in one partition, every row but the first (shard, position) of its key is dropped."""
    h0, h1, shard, pos = [], [], [], []
    for s in range(num_shards):
        d = read_partition([_xpath(workdir, "keys", s)], partition, ("h0", "h1", "pos"))
        h0.append(d["h0"])
        h1.append(d["h1"])
        pos.append(d["pos"].astype(np.int64))
        shard.append(np.full(len(d["pos"]), s, dtype=np.int64))
    k0, k1 = np.concatenate(h0).astype(np.uint64), np.concatenate(h1).astype(np.uint64)
    sh, ps = np.concatenate(shard), np.concatenate(pos)
    order = np.lexsort((ps, sh, k1, k0))
    k0, k1, sh, ps = k0[order], k1[order], sh[order], ps[order]
    dup = np.zeros(len(order), dtype=bool)
    dup[1:] = (k0[1:] == k0[:-1]) & (k1[1:] == k1[:-1])
    write_partitioned(_xpath(workdir, "drop", partition), {"pos": ps[dup]}, sh[dup], max(1, num_shards))
    return {"records": len(order), "duplicates": int(dup.sum())}

"""Readers start a pipeline (and say how the input splits into shards); writers end it."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

from datamill.errors import ConfigError, InputError
from datamill.io import storage
from datamill.io._files import expand_paths
from datamill.io.adapt import check_record_type, to_record
from datamill.io.jsonl import DEFAULT_MAX_LINE_BYTES, JsonlWriter, iter_jsonl
from datamill.io.parquet import ParquetWriter, iter_parquet
from datamill.io.quarantine import ErrorPolicy, OnError
from datamill.pipeline.registry import Component
from datamill.records import Record

__all__ = ["HFReader", "JsonlReader", "ParquetReader", "Reader", "Writer"]


class Reader(Component):
    """Turns input into records, one shard at a time. Shards are strings, stable across runs."""

    kind: ClassVar[str] = "reader"

    def __init__(
        self,
        *,
        paths: str | list[str],
        on_error: OnError = "raise",
        record_type: str = "auto",
        text_field: str = "text",
        id_field: str = "id",
    ) -> None:
        self.paths = [paths] if isinstance(paths, str) else list(paths)
        if not self.paths:
            raise ConfigError("a reader needs at least one path")
        ErrorPolicy(on_error)  # validates
        self.on_error: OnError = on_error
        self.record_type = check_record_type(record_type)
        self.text_field, self.id_field = text_field, id_field

    suffixes: ClassVar[tuple[str, ...]] = ()

    def shards(self) -> list[str]:
        """One shard per input file (globs and folders expanded, sorted)."""
        return expand_paths(self.paths, suffixes=self.suffixes)

    @abstractmethod
    def read_shard(self, shard: str, policy: ErrorPolicy) -> Iterator[Record]:
        """The records of one shard; bad rows go to ``policy``."""

    def _rows_to_records(
        self, shard: str, rows: Iterator[tuple[int, int | None, Any]], policy: ErrorPolicy
    ) -> Iterator[Record]:
        for line, offset, obj in rows:
            try:
                yield to_record(
                    obj,
                    record_type=self.record_type,
                    text_field=self.text_field,
                    id_field=self.id_field,
                    source=shard,
                    line=line,
                    offset=offset,
                )
            except ValueError as exc:
                policy.bad(
                    path=shard,
                    line=line,
                    kind="bad_record",
                    reason=str(exc),
                    offset=offset,
                    raw=_preview(obj),
                )

    def read(self, *, policy: ErrorPolicy | None = None) -> Iterator[Record]:
        """All records of all shards, in order (convenience for in-memory use)."""
        policy = policy or ErrorPolicy(self.on_error)
        for shard in self.shards():
            yield from self.read_shard(shard, policy)


def _preview(obj: Any) -> str:
    import orjson

    try:
        return orjson.dumps(obj, default=str).decode()
    except TypeError:
        return repr(obj)


class JsonlReader(Reader):
    """JSON Lines files (.jsonl, .jsonl.gz, .jsonl.zst); ``max_line_bytes`` bounds memory per line."""

    name = "read.jsonl"
    suffixes = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".json.gz", ".json.zst")

    def __init__(
        self,
        *,
        paths: str | list[str],
        on_error: OnError = "raise",
        record_type: str = "auto",
        text_field: str = "text",
        id_field: str = "id",
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        super().__init__(
            paths=paths, on_error=on_error, record_type=record_type, text_field=text_field, id_field=id_field
        )
        self.max_line_bytes = max_line_bytes

    def read_shard(self, shard: str, policy: ErrorPolicy) -> Iterator[Record]:
        rows = iter_jsonl(shard, policy=policy, max_line_bytes=self.max_line_bytes)
        return self._rows_to_records(shard, rows, policy)


class ParquetReader(Reader):
    """Parquet files, read in record batches."""

    name = "read.parquet"
    suffixes = (".parquet",)

    def read_shard(self, shard: str, policy: ErrorPolicy) -> Iterator[Record]:
        rows = ((n, None, row) for n, row in iter_parquet(shard))
        return self._rows_to_records(shard, rows, policy)


class HFReader(Reader):
    """A Hugging Face dataset saved with ``save_to_disk``, split into shards of ``shard_size`` rows."""

    name = "read.hf"

    def __init__(
        self,
        *,
        paths: str | list[str],
        split: str | None = None,
        shard_size: int = 100_000,
        on_error: OnError = "raise",
        record_type: str = "auto",
        text_field: str = "text",
        id_field: str = "id",
    ) -> None:
        super().__init__(
            paths=paths, on_error=on_error, record_type=record_type, text_field=text_field, id_field=id_field
        )
        if shard_size < 1:
            raise ConfigError(f"shard_size must be >= 1, got {shard_size!r}")
        self.split, self.shard_size = split, shard_size

    def shards(self) -> list[str]:
        from datamill.io.hf import load_hf

        out: list[str] = []
        for path in self.paths:
            if not storage.isdir(path):
                raise InputError("no such dataset folder", path=path)
            n = len(load_hf(path, split=self.split))
            out.extend(
                f"{path}#{lo}:{min(lo + self.shard_size, n)}" for lo in range(0, max(n, 1), self.shard_size)
            )
        return out

    def read_shard(self, shard: str, policy: ErrorPolicy) -> Iterator[Record]:
        from datamill.io.hf import iter_hf

        path, _, span = shard.rpartition("#")
        lo, hi = (int(x) for x in span.split(":"))
        rows = ((n, None, row) for n, row in iter_hf(path, split=self.split, start=lo, stop=hi))
        return self._rows_to_records(path, rows, policy)


_FORMATS = {"parquet": ".parquet", "jsonl": ".jsonl", "jsonl.gz": ".jsonl.gz", "jsonl.zst": ".jsonl.zst"}


class Writer(Component):
    """Writes each output shard to ``<output>/data/part-NNNNN.<format>``."""

    kind: ClassVar[str] = "writer"
    name = "write"

    def __init__(self, *, format: str = "parquet") -> None:  # noqa: A002
        if format not in _FORMATS:
            raise ConfigError(f"format must be one of {', '.join(_FORMATS)}, got {format!r}", params="format")
        self.format = format

    @property
    def suffix(self) -> str:
        return _FORMATS[self.format]

    def open(self, path: str) -> JsonlWriter | ParquetWriter:
        return ParquetWriter(path) if self.format == "parquet" else JsonlWriter(path)

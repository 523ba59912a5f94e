"""Streaming readers and writers: JSONL (.gz/.zst), Parquet, Hugging Face datasets, quarantine."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from datamill.io._files import expand_paths, open_read, open_write
from datamill.io.adapt import to_record
from datamill.io.hf import iter_hf, load_hf, to_hf_dataset, write_hf
from datamill.io.jsonl import JsonlWriter, iter_jsonl, write_jsonl
from datamill.io.parquet import ParquetWriter, iter_parquet, write_parquet
from datamill.io.quarantine import ErrorPolicy, OnError, Quarantine
from datamill.records import Record

__all__ = [
    "ErrorPolicy",
    "JsonlWriter",
    "OnError",
    "ParquetWriter",
    "Quarantine",
    "expand_paths",
    "iter_hf",
    "iter_jsonl",
    "iter_parquet",
    "load_hf",
    "open_read",
    "open_write",
    "read_records",
    "to_hf_dataset",
    "to_record",
    "write_hf",
    "write_jsonl",
    "write_parquet",
    "write_records",
]


def read_records(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    on_error: OnError = "raise",
    quarantine: Quarantine | str | None = None,
    record_type: str = "auto",
    text_field: str = "text",
    id_field: str = "id",
) -> Iterator[Record]:
    """Stream records from JSONL/Parquet files, folders or globs (format by suffix).

    Malformed rows raise :class:`~datamill.errors.InputError` (``on_error="raise"``) or are written
    to ``quarantine`` and counted (``on_error="quarantine"``).
    """
    from datamill.pipeline.io import JsonlReader, ParquetReader

    q = quarantine if isinstance(quarantine, Quarantine) else Quarantine(quarantine)
    policy = ErrorPolicy(on_error, q)
    files = expand_paths(paths, suffixes=JsonlReader.suffixes + ParquetReader.suffixes)
    kw: dict[str, Any] = {
        "on_error": on_error,
        "record_type": record_type,
        "text_field": text_field,
        "id_field": id_field,
    }
    try:
        for f in files:
            reader = ParquetReader(paths=f, **kw) if f.endswith(".parquet") else JsonlReader(paths=f, **kw)
            yield from reader.read_shard(f, policy)
    finally:
        if not isinstance(quarantine, Quarantine):
            q.close()


def write_records(records: Iterable[Record | dict[str, Any]], path: str | os.PathLike[str]) -> int:
    """Write records to one file, format by suffix: .parquet, .jsonl(.gz/.zst), or a folder for HF."""
    p = os.fspath(path)
    if p.endswith(".parquet"):
        return write_parquet(records, p)
    if p.endswith((".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson")):
        return write_jsonl(records, p)
    return write_hf(records, p)

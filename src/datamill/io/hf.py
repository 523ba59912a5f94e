"""Hugging Face ``datasets``: load_from_disk / save_to_disk and in-memory Dataset objects."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import InputError, require
from datamill.records import Record

__all__ = ["iter_hf", "load_hf", "to_hf_dataset", "write_hf"]

_TYPE_COLUMN = "type"  # records keep their type tag as a column: HF datasets drop Arrow schema metadata


def load_hf(source: Any, *, split: str | None = None):  # noqa: ANN201
    """A ``datasets.Dataset`` from a save_to_disk folder, a Dataset, or a DatasetDict and ``split``."""
    datasets = require("datasets", extra="all", purpose="Hugging Face datasets")
    ds = source
    if isinstance(source, (str, os.PathLike)):
        try:
            ds = datasets.load_from_disk(os.fspath(source))
        except (FileNotFoundError, ValueError) as exc:
            raise InputError(f"not a datasets save_to_disk folder: {exc}", path=os.fspath(source)) from None
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            if len(ds) != 1:
                raise InputError(f"dataset has splits {sorted(ds)}; choose one with split=")
            split = next(iter(ds))
        if split not in ds:
            raise InputError(f"dataset has no split {split!r}; splits: {sorted(ds)}")
        ds = ds[split]
    if not isinstance(ds, datasets.Dataset):
        raise InputError(f"expected a datasets.Dataset, got {type(ds).__name__}")
    return ds


def iter_hf(
    source: Any, *, split: str | None = None, start: int = 0, stop: int | None = None, batch_size: int = 4096
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_number, row)`` (1-based) from rows ``start:stop`` of a dataset, batch by batch."""
    from datamill.io.parquet import _rows_to_records
    from datamill.records import record_types

    ds = load_hf(source, split=split)
    stop = len(ds) if stop is None else min(stop, len(ds))
    types = record_types()
    for lo in range(start, stop, batch_size):
        batch = ds[lo : min(lo + batch_size, stop)]
        keys = list(batch)
        n = len(batch[keys[0]]) if keys else 0
        rows = [{k: batch[k][i] for k in keys} for i in range(n)]
        for i, row in enumerate(rows):
            tname = row.get(_TYPE_COLUMN)
            if tname in types and isinstance(row.get("provenance"), str):  # written by to_hf_dataset
                row = next(_rows_to_records([row], types[tname]))
            yield lo + i + 1, row


def to_hf_dataset(records: Iterable[Record | dict[str, Any]], *, batch_size: int = 4096):  # noqa: ANN201
    """An in-memory ``datasets.Dataset`` of records (a ``type`` column, then the ``to_dict`` fields,
    structured ones as JSON text), or of plain dict rows as given. :func:`iter_hf` reverses it."""
    datasets = require("datasets", extra="all", purpose="Hugging Face datasets")
    import pyarrow as pa

    from datamill.io.parquet import records_to_table

    tables = []
    buf: list[Any] = []

    def flush() -> None:
        if buf:
            if isinstance(buf[0], Record):
                table = records_to_table(buf)
                table = table.add_column(0, _TYPE_COLUMN, pa.array([r.type_name for r in buf], pa.string()))
            else:
                table = pa.Table.from_pylist(buf)
            tables.append(table)
            buf.clear()

    for rec in records:
        buf.append(rec)
        if len(buf) >= batch_size:
            flush()
    flush()
    if not tables:
        return datasets.Dataset.from_dict({})
    return datasets.Dataset(pa.concat_tables(tables))


def write_hf(records: Iterable[Record | dict[str, Any]], path: str | os.PathLike[str]) -> int:
    """Save records with ``Dataset.save_to_disk``; returns the row count."""
    ds = to_hf_dataset(records)
    ds.save_to_disk(os.fspath(path))
    return len(ds)

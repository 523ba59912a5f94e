"""Parquet via pyarrow, in record batches: never the whole file in memory (local paths or URLs)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import fields
from typing import Any

import orjson

from datamill.errors import ConfigError, InputError
from datamill.io import storage
from datamill.io._files import AtomicWriter
from datamill.records import Record, record_types

__all__ = ["ParquetWriter", "iter_parquet", "record_schema", "records_to_table", "write_parquet"]

_TYPE_KEY = b"datamill.type"
_NATIVE = {"str", "str | None"}


def _columns(cls: type[Record]) -> list[tuple[str, bool]]:
    """(field name, stored as native string?) for each field of a record type; others are JSON text."""
    out = []
    for f in fields(cls):
        out.append((f.name, f.name == "id" or str(f.type) in _NATIVE))
    return out


def record_schema(cls: type[Record]):  # noqa: ANN201
    import pyarrow as pa

    return pa.schema(
        [(name, pa.string()) for name, _ in _columns(cls)], metadata={_TYPE_KEY: cls.type_name.encode()}
    )


def _row(rec: Record, cols: list[tuple[str, bool]]) -> dict[str, Any]:
    d = rec.to_dict()
    return {name: d[name] if native else orjson.dumps(d[name]).decode() for name, native in cols}


def records_to_table(records: list[Record]):  # noqa: ANN201
    """A pyarrow Table of same-typed records (JSON text for structured fields)."""
    import pyarrow as pa

    if not records:
        raise ValueError("records_to_table needs at least one record")
    cls = type(records[0])
    cols = _columns(cls)
    for rec in records:
        if type(rec) is not cls:
            raise ConfigError(
                f"a Parquet file holds one record type; got {cls.type_name} and {rec.type_name}"
            )
    return pa.Table.from_pylist([_row(r, cols) for r in records], schema=record_schema(cls))


def _rows_to_records(rows: list[dict[str, Any]], cls: type[Record]) -> Iterator[dict[str, Any]]:
    cols = _columns(cls)
    for row in rows:
        out: dict[str, Any] = {"type": cls.type_name}
        for name, native in cols:
            value = row.get(name)
            out[name] = value if native or value is None else orjson.loads(value)
        yield out


def iter_parquet(
    path: str | os.PathLike[str], *, batch_size: int = 4096
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_number, row)`` (1-based); datamill-written files give ``to_dict`` rows back."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = os.fspath(path)
    try:
        pf = pq.ParquetFile(storage.local_path(name) if storage.is_local(name) else storage.open_input(name))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"not a readable Parquet file: {exc}", path=name) from None
    meta = pf.schema_arrow.metadata or {}
    rtype = meta.get(_TYPE_KEY, b"").decode() or None
    cls = record_types().get(rtype) if rtype else None
    n = 0
    try:
        for batch in pf.iter_batches(batch_size=batch_size):
            rows = batch.to_pylist()
            it = _rows_to_records(rows, cls) if cls is not None else iter(rows)
            for row in it:
                n += 1
                yield n, row
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"corrupt Parquet data after row {n}: {exc}", path=name, line=n + 1) from None


class ParquetWriter(AtomicWriter):
    """Write records (one type per file) or plain dict rows to Parquet, atomically, in row groups."""

    def __init__(
        self, path: str | os.PathLike[str], *, batch_size: int = 2048, compression: str = "zstd"
    ) -> None:
        super().__init__(path)
        self.batch_size = batch_size
        self.compression = compression
        self._buf: list[Any] = []
        self._writer: Any = None
        self._schema: Any = None

    def write(self, rec: Record | dict[str, Any]) -> None:
        self._buf.append(rec)
        self.count += 1
        if len(self._buf) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._buf:
            return
        if isinstance(self._buf[0], Record):
            table = records_to_table(self._buf)
        else:
            try:
                table = pa.Table.from_pylist(self._buf, schema=self._schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ConfigError(f"rows do not fit the Parquet schema of the first batch: {exc}") from None
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._file.tmp, table.schema, compression=self.compression)
        elif table.schema != self._schema:
            raise ConfigError("a Parquet file holds one record type and schema; got a different one mid-file")
        self._writer.write_table(table)
        self._buf = []

    def _finish(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._flush()
        if self._writer is None:  # no rows: still write a valid, empty file
            pq.write_table(pa.table({}), self._file.tmp)
        else:
            self._writer.close()

    def _discard(self) -> None:
        if self._writer is not None:
            self._writer.close()


def write_parquet(records: Iterable[Record | dict[str, Any]], path: str | os.PathLike[str], **kw: Any) -> int:
    """Write records to a Parquet file; returns how many were written."""
    with ParquetWriter(path, **kw) as w:
        for rec in records:
            w.write(rec)
    return w.count

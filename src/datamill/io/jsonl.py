"""Streaming JSON Lines (plain, .gz, .zst): bounded memory, line numbers in every error.

A ``.json`` file holding one JSON array of rows (Stanford Alpaca's ``alpaca_data.json``, ShareGPT dumps)
is read as a stream of its elements, each numbered by the line it starts on.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from datamill.io._files import AtomicWriter, compression_of, open_read, open_write
from datamill.io.quarantine import ErrorPolicy
from datamill.records import Record

__all__ = ["DEFAULT_MAX_LINE_BYTES", "JsonlWriter", "iter_jsonl", "write_jsonl"]

DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024
_STREAM_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, OSError)


def _stream_errors() -> tuple[type[BaseException], ...]:
    try:
        import zstandard

        return (*_STREAM_ERRORS, zstandard.ZstdError)
    except ImportError:  # pragma: no cover - zstandard is a core dependency
        return _STREAM_ERRORS


def iter_jsonl(
    path: str | os.PathLike[str],
    *,
    policy: ErrorPolicy | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(line_number, byte_offset, value)`` for each non-blank line of a JSONL file.

    Offsets count bytes of the decompressed stream. Bad lines (invalid UTF-8, not JSON, longer than
    ``max_line_bytes``), a truncated or corrupt compressed stream and an empty file raise
    :class:`~datamill.errors.InputError` naming ``file:line``, or go to the policy's quarantine.
    """
    policy = policy or ErrorPolicy()
    name = os.fspath(path)
    errors = _stream_errors()
    lineno = 0
    offset = 0
    seen_any = False
    fh = open_read(name)
    try:
        while True:
            try:
                raw = fh.readline(max_line_bytes + 1)
            except errors as exc:
                comp = compression_of(name) or "file"
                policy.bad(
                    path=name,
                    line=lineno + 1,
                    kind="truncated_stream",
                    reason=f"{comp} stream is truncated or corrupt after line {lineno}: {exc}",
                    offset=offset,
                )
                return
            if not raw:
                break
            seen_any = True
            lineno += 1
            start = offset
            if not start and _is_json_name(name) and raw.lstrip().startswith(b"["):
                yield from _iter_json_array(fh, raw, name, policy, max_line_bytes, errors)
                return
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                size = _skip_line(fh, raw, errors)
                offset += size
                policy.bad(
                    path=name,
                    line=lineno,
                    kind="line_too_long",
                    raw=raw[:4096],
                    offset=start,
                    size=size,
                    reason=f"line is {size:,} bytes, over max_line_bytes={max_line_bytes:,} "
                    "(raise max_line_bytes to read it)",
                )
                continue
            offset += len(raw)
            if not raw.strip():
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                kind, reason = _why_not_json(raw, exc)
                policy.bad(path=name, line=lineno, kind=kind, raw=raw, offset=start, reason=reason)
                continue
            yield lineno, start, value
    finally:
        fh.close()
    if not seen_any:
        policy.bad(path=name, line=0, kind="empty_file", reason="file is empty (no lines)")


def _skip_line(fh: Any, raw: bytes, errors: tuple[type[BaseException], ...]) -> int:
    """Read past the rest of an over-long line whose start is ``raw``; its whole size in bytes."""
    size = len(raw)
    try:
        while True:
            chunk = fh.readline(1 << 20)
            size += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                break
    except errors:
        pass
    return size


def _why_not_json(raw: bytes, exc: Exception) -> tuple[str, str]:
    """(kind, reason) of a line orjson rejected: invalid UTF-8 (orjson rejects it too) or invalid JSON."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as uexc:
        return "invalid_utf8", f"invalid UTF-8 at byte {uexc.start} of the line"
    return "invalid_json", f"not valid JSON: {exc}"


def _is_json_name(name: str) -> bool:
    base = name[:-3] if name.endswith(".gz") else name[:-4] if name.endswith(".zst") else name
    return base.endswith(".json")


class _JsonArray:
    """A streamed JSON array's read position: the decoded text buffered, ``pos`` in it, and the line, byte
    offset and element index there."""

    def __init__(self, fh: Any, first: bytes, max_bytes: int) -> None:
        import codecs
        import json

        self.fh, self.max_bytes, self.eof = fh, max_bytes, False
        self.raw_decode = json.JSONDecoder().raw_decode
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.buf = self.utf8.decode(first)  # UnicodeDecodeError: the caller reports it
        self.pos = self.buf.index("[") + 1
        self.line, self.offset, self.index = (
            1 + self.buf.count("\n", 0, self.pos),
            len(self.buf[: self.pos].encode()),
            0,
        )

    def more(self) -> None:
        """Keep the text from ``pos`` and append the next chunk of the file (``eof`` at its end)."""
        chunk = self.fh.read(1 << 20)
        self.eof = not chunk
        self.buf, self.pos = self.buf[self.pos :] + self.utf8.decode(chunk, final=not chunk), 0

    def next_char(self) -> str | None:
        """Past the white space and the comma between elements: the next character, None at the end."""
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                self.line += buf[pos] == "\n"
                self.offset += 1
                pos += 1
            self.pos = pos
            if pos < len(buf) or self.eof:
                return buf[pos] if pos < len(buf) else None
            self.more()

    def element(self) -> tuple[Any, int] | tuple[str, str]:
        """The element at ``pos`` and where it ends, else (kind, reason) of why it cannot be read: it is not
        JSON, or longer than ``max_bytes``."""
        import json

        while True:
            try:
                return self.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof:
                    return (
                        "invalid_json",
                        f"element {self.index + 1} of the JSON array is not valid JSON: {exc.msg}",
                    )
                if len(self.buf) - self.pos > self.max_bytes:
                    return (
                        "line_too_long",
                        f"element {self.index + 1} of the JSON array is over max_line_bytes={self.max_bytes:,}",
                    )
                self.more()

    def advance(self, end: int) -> None:
        """Move past the element that ends at ``end``."""
        text = self.buf[self.pos : end]
        self.index += 1
        self.line += text.count("\n")
        self.offset += len(text.encode())
        self.pos = end


def _iter_json_array(
    fh: Any,
    first: bytes,
    name: str,
    policy: ErrorPolicy,
    max_bytes: int,
    errors: tuple[type[BaseException], ...],
) -> Iterator[tuple[int, int, Any]]:
    """The elements of a JSON array, streamed: ``(line the element starts on, byte offset, value)``.

    A malformed element ends the read (an array cannot be resynchronised past it) after telling the
    policy; so do an element longer than ``max_bytes``, invalid UTF-8 and a missing closing ``]``.
    """
    try:
        arr = _JsonArray(fh, first, max_bytes)
    except UnicodeDecodeError as exc:
        policy.bad(
            path=name, line=1, kind="invalid_utf8", reason=f"invalid UTF-8 at byte {exc.start}", offset=0
        )
        return
    try:
        while (char := arr.next_char()) != "]":
            if char is None:
                policy.bad(
                    path=name,
                    line=arr.line,
                    kind="invalid_json",
                    offset=arr.offset,
                    reason=f"the JSON array is not closed with ']' after {arr.index} element(s)",
                )
                return
            got = arr.element()
            if isinstance(got[1], str):
                kind, reason = got
                raw = arr.buf[arr.pos : arr.pos + 4096]
                policy.bad(path=name, line=arr.line, kind=kind, raw=raw, offset=arr.offset, reason=reason)
                return
            value, end = got
            yield arr.line, arr.offset, value
            arr.advance(end)
    except UnicodeDecodeError as exc:
        policy.bad(
            path=name,
            line=arr.line,
            kind="invalid_utf8",
            offset=arr.offset,
            reason=f"invalid UTF-8 in element {arr.index + 1} of the JSON array ({exc.reason})",
        )
    except errors as exc:
        policy.bad(
            path=name,
            line=arr.line,
            kind="truncated_stream",
            offset=arr.offset,
            reason=f"stream is truncated or corrupt in element {arr.index + 1} of the JSON array: {exc}",
        )


class JsonlWriter(AtomicWriter):
    """Write records (or plain dicts) as JSON Lines, atomically: the file appears whole or not at all."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._fh = open_write(self._file.tmp, compression=compression_of(self.path))

    def write(self, rec: Record | dict[str, Any]) -> None:
        data = (
            rec.to_json() if isinstance(rec, Record) else orjson.dumps(rec, option=orjson.OPT_SERIALIZE_NUMPY)
        )
        self._fh.write(data)
        self._fh.write(b"\n")
        self.count += 1

    def _finish(self) -> None:
        self._fh.close()

    _discard = _finish


def write_jsonl(records: Iterable[Record | dict[str, Any]], path: str | os.PathLike[str]) -> int:
    """Write records to ``path`` (compressed by suffix); returns how many were written."""
    with JsonlWriter(path) as w:
        for rec in records:
            w.write(rec)
    return w.count

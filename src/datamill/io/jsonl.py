"""Streaming JSON Lines (plain, .gz, .zst): bounded memory, line numbers in every error.

A ``.json`` file holding one JSON array of rows (Stanford Alpaca's ``alpaca_data.json``, ShareGPT dumps)
is read as a stream of its elements, each numbered by the line it starts on.
"""

from __future__ import annotations

import gzip
import json
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
    The loop keeps its position in locals: it is the hot path of reading a ``.json`` file.
    """
    import codecs

    raw_decode = json.JSONDecoder().raw_decode
    utf8 = codecs.getincrementaldecoder("utf-8")()
    state = {"eof": False}

    def more(buf: str, pos: int) -> tuple[str, int]:
        """``buf`` from ``pos`` with the next chunk of the file appended (sets eof at the end)."""
        chunk = fh.read(1 << 20)
        state["eof"] = not chunk
        return buf[pos:] + utf8.decode(chunk, final=not chunk), 0

    try:
        buf = utf8.decode(first)
    except UnicodeDecodeError as exc:
        policy.bad(
            path=name, line=1, kind="invalid_utf8", reason=f"invalid UTF-8 at byte {exc.start}", offset=0
        )
        return
    pos = buf.index("[") + 1
    line, offset, index = 1 + buf.count("\n", 0, pos), len(buf[:pos].encode()), 0
    try:
        while True:
            while True:  # whitespace and the comma between elements
                while pos < len(buf) and buf[pos] in " \t\r\n,":
                    line += buf[pos] == "\n"
                    offset += 1
                    pos += 1
                if pos < len(buf) or state["eof"]:
                    break
                buf, pos = more(buf, pos)
            if pos >= len(buf) or buf[pos] == "]":
                if pos >= len(buf):
                    why = f"the JSON array is not closed with ']' after {index} element(s)"
                    policy.bad(path=name, line=line, kind="invalid_json", offset=offset, reason=why)
                return
            while True:
                try:
                    value, end = raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as exc:
                    if state["eof"] or len(buf) - pos > max_bytes:
                        kind, why = _element_error(index, exc, too_long=not state["eof"], max_bytes=max_bytes)
                        policy.bad(
                            path=name,
                            line=line,
                            kind=kind,
                            raw=buf[pos : pos + 4096],
                            offset=offset,
                            reason=why,
                        )
                        return
                    buf, pos = more(buf, pos)
            yield line, offset, value
            text = buf[pos:end]
            index += 1
            line += text.count("\n")
            offset += len(text.encode())
            pos = end
    except UnicodeDecodeError as exc:
        why = f"invalid UTF-8 in element {index + 1} of the JSON array ({exc.reason})"
        policy.bad(path=name, line=line, kind="invalid_utf8", offset=offset, reason=why)
    except errors as exc:
        why = f"stream is truncated or corrupt in element {index + 1} of the JSON array: {exc}"
        policy.bad(path=name, line=line, kind="truncated_stream", offset=offset, reason=why)


def _element_error(
    index: int, exc: json.JSONDecodeError, *, too_long: bool, max_bytes: int
) -> tuple[str, str]:
    """(kind, reason) of the array element ``index`` that cannot be read: over ``max_bytes``, or not JSON."""
    if too_long:
        return "line_too_long", f"element {index + 1} of the JSON array is over max_line_bytes={max_bytes:,}"
    return "invalid_json", f"element {index + 1} of the JSON array is not valid JSON: {exc.msg}"


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

"""Paths, globs and (de)compressing file handles shared by every reader and writer."""

from __future__ import annotations

import glob
import gzip
import io
import os
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from datamill.errors import InputError
from datamill.io import storage

__all__ = [
    "AtomicFile",
    "AtomicWriter",
    "DATA_SUFFIXES",
    "atomic_path",
    "compression_of",
    "expand_paths",
    "open_read",
    "open_sqlite",
    "open_write",
    "remove_stale_temp",
]

DATA_SUFFIXES = (
    ".jsonl",
    ".jsonl.gz",
    ".jsonl.zst",
    ".json",
    ".json.gz",
    ".json.zst",
    ".ndjson",
    ".parquet",
    ".warc",
    ".warc.gz",
    ".wet",
    ".wet.gz",
    ".html",
    ".htm",
    ".html.gz",
)


def compression_of(path: str | os.PathLike[str]) -> str | None:
    name = str(path)
    if name.endswith(".gz"):
        return "gzip"
    if name.endswith(".zst") or name.endswith(".zstd"):
        return "zstd"
    return None


def expand_paths(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    suffixes: tuple[str, ...] = DATA_SUFFIXES,
) -> list[str]:
    """Expand files, folders (recursively, keeping ``suffixes``) and globs into a sorted file list.

    Paths may be fsspec URLs (``s3://bucket/crawl/``, ``memory://x/*.jsonl``); their files come back as URLs.

    Raises InputError when a pattern or path matches nothing.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for p in paths:
        s = os.fspath(p)
        if not storage.is_local(s):
            out.extend(storage.expand_remote(s, suffixes))
            continue
        s = storage.local_path(s)
        if any(ch in s for ch in "*?["):
            matches = sorted(m for m in glob.glob(s, recursive=True) if os.path.isfile(m))
            if not matches:
                raise InputError("no file matches this pattern", path=s)
            out.extend(matches)
        elif os.path.isdir(s):
            found = sorted(
                str(f)
                for f in Path(s).rglob("*")
                if f.is_file() and f.name.endswith(suffixes) and not f.name.startswith(".")
            )
            if not found:
                raise InputError(f"folder holds no data files (looked for {', '.join(suffixes)})", path=s)
            out.extend(found)
        elif os.path.isfile(s):
            out.append(s)
        else:
            raise InputError("no such file or folder", path=s)
    return list(dict.fromkeys(out))


class _GzipReader(io.RawIOBase):
    """Raw gzip decompression (multi-member) that hands over every decodable byte before it reports
    a truncated or corrupt stream, so readers can keep the good lines before the damage."""

    def __init__(self, fh: IO[bytes]) -> None:
        import zlib

        self._zlib = zlib
        self._fh = fh
        self._d = zlib.decompressobj(wbits=31)
        self._pending = b""
        self._member_started = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        want = len(buffer)
        while not self._pending:
            if self._d.unconsumed_tail:
                chunk = self._d.unconsumed_tail
            else:
                chunk = self._fh.read(1 << 16)
                if not chunk:
                    if self._member_started and not self._d.eof:
                        raise EOFError("compressed file ended before the end-of-stream marker was reached")
                    return 0
            self._member_started = True
            self._pending = self._d.decompress(chunk, 1 << 20)
            if self._d.eof:
                rest = self._d.unused_data
                self._d = self._zlib.decompressobj(wbits=31)
                self._member_started = False
                if rest:
                    self._pending += self._d.decompress(rest, 1 << 20)
                    self._member_started = True
        n = min(want, len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


class _ZstdReader(io.RawIOBase):
    """A raw, readable view of a zstd stream so io.BufferedReader can do readline()."""

    def __init__(self, fh: IO[bytes]) -> None:
        import zstandard

        self._fh = fh
        self._reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self._reader.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        self._reader.close()
        self._fh.close()
        super().close()


def open_read(path: str | os.PathLike[str]) -> IO[bytes]:
    """A buffered binary handle on ``path`` (a local path or URL), decompressing .gz and .zst transparently."""
    comp = compression_of(path)
    fh = storage.open_input(path)
    if comp == "gzip":
        return io.BufferedReader(_GzipReader(fh), buffer_size=1 << 16)
    if comp == "zstd":
        return io.BufferedReader(_ZstdReader(fh), buffer_size=1 << 20)
    return fh


def _temp_prefix(path: str) -> str:
    """``path.tmp-<host>-``: the host is in the name so that on storage shared by several machines
    (a Ray cluster) a process only ever judges the temporary files of its own machine."""
    import socket

    return f"{path}.tmp-{socket.gethostname()}-"


def remove_stale_temp(path: str) -> list[str]:
    """Delete this machine's ``path.tmp-<host>-<pid>`` files whose process no longer exists;
    returns what was removed."""
    import contextlib
    import glob

    prefix = _temp_prefix(path)
    removed = []
    for tmp in glob.glob(glob.escape(prefix) + "*"):
        pid = tmp[len(prefix) :]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.remove(tmp)
                removed.append(tmp)
        except PermissionError:  # alive, someone else's
            continue
    return removed


class AtomicFile:
    """A file written under a temporary name (:attr:`tmp`, always a local path) and moved into place
    by :meth:`commit`.

    Locally the temporary file is a sibling renamed over ``path``; for a URL (``s3://...``) it is a
    local temporary file sent with one put, so the object appears whole or not at all. A crash (or
    :meth:`abort`) leaves no partial file at ``path``; the temporary siblings a killed process on this
    machine left behind (``path.tmp-<host>-<pid>`` whose process is gone) are removed when the next
    writer of ``path`` opens.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.remote = not storage.is_local(self.path)
        if self.remote:
            self.tmp = storage.remote_temp(self.path)
            return
        self.path = storage.local_path(self.path)
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        self.tmp = f"{_temp_prefix(self.path)}{os.getpid()}"
        remove_stale_temp(self.path)

    def commit(self) -> None:
        if self.remote:
            storage.upload(self.tmp, self.path)
        else:
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


class AtomicWriter(ABC):
    """Base of record file writers: rows go to a temporary sibling that :meth:`close` renames into
    place; :meth:`abort` (or an exception inside ``with``) removes it. Subclasses implement
    ``write``, ``_finish`` (flush and close the temporary file) and ``_discard``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file = AtomicFile(path)
        self.path = self._file.path
        self.count = 0

    @abstractmethod
    def write(self, rec) -> None:  # type: ignore[no-untyped-def]
        """Add one record (to the temporary file)."""

    @abstractmethod
    def _finish(self) -> None:
        """Flush and close the temporary file."""

    @abstractmethod
    def _discard(self) -> None:
        """Close the temporary file without finishing it."""

    def close(self) -> None:
        self._finish()
        self._file.commit()

    def abort(self) -> None:
        self._discard()
        self._file.abort()

    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        if exc_type is None:
            self.close()
        else:
            self.abort()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary sibling path; on success it replaces ``path`` atomically."""
    af = AtomicFile(path)
    try:
        yield af.tmp
        af.commit()
    finally:
        af.abort()


class _CompressedWriter(io.RawIOBase):
    def __init__(self, raw: IO[bytes], comp: str | None) -> None:
        self._raw = raw
        if comp == "gzip":
            # mtime=0 and no file name: the same records always give the same bytes.
            self._inner: IO[bytes] = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)  # type: ignore[assignment]
        elif comp == "zstd":
            import zstandard

            self._inner = zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False)  # type: ignore[assignment]
        else:
            self._inner = raw

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def]
        return self._inner.write(data)

    def close(self) -> None:
        if not self.closed:
            if self._inner is not self._raw:
                self._inner.close()
            self._raw.close()
        super().close()


def open_write(path: str | os.PathLike[str], *, compression: str | None = "infer") -> IO[bytes]:
    """A binary handle writing ``path``, compressing deterministically ("gzip", "zstd", None).

    ``compression="infer"`` picks it from the suffix (.gz, .zst). A URL is written by its store's own
    writer (on S3 a multipart upload that appears when the handle closes).
    """
    if compression == "infer":
        compression = compression_of(path)
    raw: IO[bytes]
    if storage.is_local(path):
        local = storage.local_path(path)
        os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
        raw = open(local, "wb")  # noqa: SIM115
    else:
        fs, inner = storage.fs_path(path)
        raw = fs.open(inner, "wb")
    return io.BufferedWriter(_CompressedWriter(raw, compression), buffer_size=1 << 20)


def open_sqlite(path: str, schema: str) -> sqlite3.Connection:
    """A local SQLite cache shared by threads and processes: its folder made, WAL journal, autocommit,
    ``schema`` applied. Raises :class:`sqlite3.Error` (the caller names what the file is for)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    db = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(schema)
    return db

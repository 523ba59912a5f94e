"""Storage every node of a cluster can share: local paths and fsspec URLs behind one small API.

A path is a local path (``data/x.jsonl``, ``file:///data/x.jsonl``) or an fsspec URL (``s3://``,
``gs://``, ``hf://``, ``memory://``, ...). Local files are written to a temporary sibling and renamed
into place; on an object store a file is written to a local temporary file first and sent with a
single put once complete, so no reader ever sees half a file. Reads stream (block by block).

Object-store settings come from the store's usual environment: for S3, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY`` and ``AWS_ENDPOINT_URL`` (an S3-compatible server such as MinIO);
``memory://`` is one process's own store (tests, notebooks), so it needs ``workers=1``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import shutil
import tempfile
from functools import lru_cache
from typing import IO, Any

from datamill.errors import ConfigError, InputError

__all__ = [
    "arrow_source",
    "exists",
    "expand_remote",
    "fs_path",
    "getsize",
    "is_local",
    "isdir",
    "isfile",
    "join",
    "listdir",
    "load_npy",
    "local_path",
    "makedirs",
    "open_input",
    "protocol",
    "read_bytes",
    "read_json",
    "remote_temp",
    "remove",
    "rmtree",
    "save_npy",
    "upload",
    "write_bytes",
    "write_json",
]

_LOCAL = ("file", "local")
# the extra that brings each protocol's fsspec implementation
_EXTRAS = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "cloud"), "gcs": ("gcsfs", "cloud")}


def protocol(path: str | os.PathLike[str]) -> str:
    """``"file"`` for local paths, else the URL's scheme (``"s3"``, ``"memory"``, ...)."""
    s = os.fspath(path)
    head, sep, _ = s.partition("://")
    if not sep or not head or not head.replace("-", "").replace("+", "").isalnum() or len(head) < 2:
        return "file"
    return head.lower()


def is_local(path: str | os.PathLike[str]) -> bool:
    """True for plain paths and ``file://`` URLs."""
    return protocol(path) in _LOCAL


def local_path(path: str | os.PathLike[str]) -> str:
    """A local path without its ``file://`` prefix."""
    s = os.fspath(path)
    for prefix in ("file://", "local://"):
        if s.startswith(prefix):
            return s[len(prefix) :]
    return s


def _filesystem(proto: str) -> Any:
    # per process: async stores (s3fs, gcsfs) refuse to be used in a forked worker
    return _filesystem_in(proto, os.getpid())


@lru_cache(maxsize=32)
def _filesystem_in(proto: str, pid: int) -> Any:
    import fsspec

    try:
        return fsspec.filesystem(proto)
    except ImportError as exc:
        package, extra = _EXTRAS.get(proto, (None, None))
        hint = f": pip install 'datamill[{extra}]' (or {package})" if extra else f" ({exc})"
        raise ConfigError(f"{proto}:// paths need an fsspec implementation{hint}") from None
    except ValueError as exc:
        raise ConfigError(f"unknown storage protocol {proto!r}: {exc}") from None


def fs_path(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """``(fsspec filesystem, path inside it)`` for a URL or local path."""
    s = os.fspath(path)
    if is_local(s):
        return _filesystem("file"), os.path.abspath(local_path(s))
    fs = _filesystem(protocol(s))
    return fs, fs._strip_protocol(s)


def _url(fs: Any, inner: str) -> str:
    return str(fs.unstrip_protocol(inner))


def join(base: str | os.PathLike[str], *parts: str) -> str:
    """``base/part/...``: ``os.path.join`` for local paths, ``/`` for URLs."""
    b = os.fspath(base)
    return os.path.join(b, *parts) if is_local(b) else posixpath.join(b, *parts)


def exists(path: str | os.PathLike[str]) -> bool:
    if is_local(path):
        return os.path.exists(local_path(path))
    fs, p = fs_path(path)
    return bool(fs.exists(p))


def isfile(path: str | os.PathLike[str]) -> bool:
    if is_local(path):
        return os.path.isfile(local_path(path))
    fs, p = fs_path(path)
    return bool(fs.isfile(p))


def isdir(path: str | os.PathLike[str]) -> bool:
    if is_local(path):
        return os.path.isdir(local_path(path))
    fs, p = fs_path(path)
    return bool(fs.isdir(p))


def getsize(path: str | os.PathLike[str]) -> int:
    if is_local(path):
        return os.path.getsize(local_path(path))
    fs, p = fs_path(path)
    return int(fs.size(p))


def listdir(path: str | os.PathLike[str]) -> list[str]:
    """The names (not paths) in a folder; ``[]`` when it does not exist."""
    if is_local(path):
        d = local_path(path)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []
    fs, p = fs_path(path)
    try:
        return sorted(posixpath.basename(e.rstrip("/")) for e in fs.ls(p, detail=False, refresh=True))
    except FileNotFoundError:
        return []
    finally:
        # other processes write here too: a listing kept in fsspec's cache would hide their files
        fs.invalidate_cache(p)


def makedirs(path: str | os.PathLike[str]) -> None:
    """Create a local folder (object stores have no folders: nothing to do)."""
    if is_local(path):
        os.makedirs(local_path(path) or ".", exist_ok=True)


def remove(path: str | os.PathLike[str]) -> None:
    """Delete a file if it exists."""
    if is_local(path):
        with contextlib.suppress(FileNotFoundError):
            os.remove(local_path(path))
        return
    fs, p = fs_path(path)
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(p)


def rmtree(path: str | os.PathLike[str]) -> None:
    """Delete a folder (or every object under the prefix) if it exists."""
    if is_local(path):
        shutil.rmtree(local_path(path), ignore_errors=True)
        return
    fs, p = fs_path(path)
    if fs.exists(p):
        fs.rm(p, recursive=True)


def open_input(path: str | os.PathLike[str]) -> IO[bytes]:
    """A binary, seekable, streaming handle on a file (``InputError`` if it cannot be opened)."""
    s = os.fspath(path)
    try:
        if is_local(s):
            return open(local_path(s), "rb")  # noqa: SIM115 - the caller closes it
        fs, p = fs_path(s)
        # fsspec's file fetches blocks on demand; BufferedReader adds readline(size) and peek()
        return io.BufferedReader(fs.open(p, "rb", block_size=1 << 22), buffer_size=1 << 16)
    except FileNotFoundError:
        raise InputError("no such file", path=s) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot open: {getattr(exc, 'strerror', None) or exc}", path=s) from None


def upload(local: str, path: str | os.PathLike[str]) -> None:
    """Move a finished local file to ``path``: a rename locally, a single put on a remote store."""
    if is_local(path):
        dest = local_path(path)
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        os.replace(local, dest)
        return
    fs, p = fs_path(path)
    try:
        fs.put_file(local, p)
    finally:
        os.remove(local)


def remote_temp(path: str | os.PathLike[str]) -> str:
    """A fresh local temporary file for what will be uploaded to ``path``."""
    name = posixpath.basename(os.fspath(path).rstrip("/")) or "part"
    fd, tmp = tempfile.mkstemp(prefix="datamill-", suffix="-" + name)
    os.close(fd)
    return tmp


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a whole file atomically (temporary sibling + rename, or one put)."""
    from datamill.io._files import AtomicFile

    af = AtomicFile(path)
    try:
        with open(af.tmp, "wb") as fh:
            fh.write(data)
        af.commit()
    finally:
        af.abort()


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    with open_input(path) as fh:
        return fh.read()


def write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = None) -> None:
    write_bytes(path, json.dumps(obj, indent=indent).encode())


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(read_bytes(path))


def save_npy(path: str | os.PathLike[str], arr: Any) -> None:
    """``numpy.save`` to a local path or URL, atomically."""
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, arr)
    write_bytes(path, buf.getvalue())


def load_npy(path: str | os.PathLike[str]) -> Any:
    import numpy as np

    if is_local(path):
        return np.load(local_path(path))
    return np.load(io.BytesIO(read_bytes(path)))


def arrow_source(path: str | os.PathLike[str]) -> Any:
    """What pyarrow's readers take for ``path``: a memory map of a local file, a random-access
    stream of a URL (only the byte ranges read are fetched)."""
    import pyarrow as pa

    if is_local(path):
        return pa.memory_map(local_path(path))
    return pa.PythonFile(open_input(path), mode="r")


def expand_remote(pattern: str, suffixes: tuple[str, ...]) -> list[str]:
    """The files of a URL: a file, a folder (recursively, keeping ``suffixes``) or a glob, as URLs."""
    fs, p = fs_path(pattern)
    try:
        if any(ch in p for ch in "*?["):
            dot = posixpath.basename(p).startswith(".")  # like glob.glob: * skips hidden files
            found = sorted(
                m for m in fs.glob(p) if (dot or not posixpath.basename(m).startswith(".")) and fs.isfile(m)
            )
            if not found:
                raise InputError("no file matches this pattern", path=pattern)
            return [_url(fs, m) for m in found]
        if fs.isfile(p):
            return [pattern]
        if fs.isdir(p):
            found = sorted(
                f for f in fs.find(p) if f.endswith(suffixes) and not posixpath.basename(f).startswith(".")
            )
            if not found:
                raise InputError(
                    f"folder holds no data files (looked for {', '.join(suffixes)})", path=pattern
                )
            return [_url(fs, f) for f in found]
    except (PermissionError, ConnectionError) as exc:
        raise InputError(f"cannot list: {exc}", path=pattern) from None
    finally:
        fs.invalidate_cache()
    raise InputError("no such file or folder", path=pattern)

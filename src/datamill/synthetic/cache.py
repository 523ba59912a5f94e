"""The request cache: SQLite (WAL), one row per request keyed by a hash of (model, messages, params).

Every finished request is committed as soon as its answer arrives, so a killed run loses at most the
requests in flight. Rows that failed are kept with their error and retried by the next run.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

import orjson
import xxhash

from datamill.errors import StorageError
from datamill.io._files import open_sqlite
from datamill.synthetic.teachers import Completion

__all__ = ["RequestCache", "default_cache_path", "request_key"]


def request_key(model: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """The cache key of one request: xxh3-128 of the canonical JSON of model, messages and params."""
    blob = orjson.dumps({"model": model, "messages": messages, "params": params}, option=orjson.OPT_SORT_KEYS)
    return xxhash.xxh3_128_hexdigest(blob)


def default_cache_path() -> str:
    """``$DATAMILL_SYNTHETIC_CACHE``, else ``~/.cache/datamill/synthetic.sqlite``."""
    return os.environ.get("DATAMILL_SYNTHETIC_CACHE") or os.path.expanduser(
        "~/.cache/datamill/synthetic.sqlite"
    )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    status TEXT NOT NULL,          -- 'ok' or 'failed'
    completion BLOB,               -- Completion as JSON when ok
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    updated REAL NOT NULL
)"""


class RequestCache:
    """A SQLite cache of teacher answers; safe across threads and processes (WAL, busy timeout)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        try:
            self._db = open_sqlite(self.path, _SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: cannot open the synthetic cache: {exc}") from None

    def get(self, key: str) -> Completion | None:
        """The cached answer for ``key``, or None if absent or failed last time."""
        with self._lock:
            row = self._db.execute(
                "SELECT completion FROM requests WHERE key=? AND status='ok'", (key,)
            ).fetchone()
        return Completion.from_dict(orjson.loads(row[0])) if row else None

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        """Cached answers for those of ``keys`` that finished, in one query per 500 keys."""
        out: dict[str, Completion] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                rows = self._db.execute(
                    f"SELECT key, completion FROM requests WHERE status='ok' AND key IN "
                    f"({','.join('?' * len(part))})",
                    part,
                ).fetchall()
                out.update((k, Completion.from_dict(orjson.loads(blob))) for k, blob in rows)
        return out

    def put(self, key: str, model: str, completion: Completion) -> None:
        self._write(key, model, "ok", orjson.dumps(completion.to_dict()), None)

    def put_failure(self, key: str, model: str, error: str) -> None:
        self._write(key, model, "failed", None, error)

    def _write(self, key: str, model: str, status: str, blob: bytes | None, error: str | None) -> None:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO requests(key, model, status, completion, error, attempts, updated) "
                    "VALUES (?,?,?,?,?,1,?) ON CONFLICT(key) DO UPDATE SET status=excluded.status, "
                    "completion=excluded.completion, error=excluded.error, attempts=attempts+1, "
                    "updated=excluded.updated",
                    (key, model, status, blob, error, time.time()),
                )
            except sqlite3.Error as exc:
                raise StorageError(f"{self.path}: cannot write the synthetic cache: {exc}") from None

    def counts(self) -> dict[str, int]:
        """Rows by status."""
        with self._lock:
            return dict(self._db.execute("SELECT status, COUNT(*) FROM requests GROUP BY status").fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RequestCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Vectors cached by content: SQLite keyed by a hash of the text, one file per model and backend.

Re-embedding text that was embedded before (re-indexing a corpus where most chunks are unchanged,
re-running a diagnosis) reads the vector back instead of running the model. The file name carries
the model's fingerprint (a hash of its weights) and the backend, so vectors of different models or of
fp32 and int8 never mix.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence

import numpy as np

from datamill.errors import StorageError
from datamill.io._files import open_sqlite

__all__ = ["EmbeddingCache", "text_key"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID"
_CHUNK = 500  # keys per SELECT (SQLite's bound-parameter limit is 999 on old builds)


def text_key(text: str) -> bytes:
    """The cache key of one text: its xxh3-128 digest."""
    import xxhash

    return xxhash.xxh3_128_digest(text.encode("utf-8", "surrogatepass"))


class EmbeddingCache:
    """A SQLite file of ``text hash -> float32 vector`` of one dimension; safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str], dim: int) -> None:
        self.path = os.fspath(path)
        self.dim = dim
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        try:
            self._db = open_sqlite(self.path, _SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"embedding cache {self.path}: {exc}") from None

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors of ``keys`` (missing keys are absent from the result)."""
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                part = list(keys[start : start + _CHUNK])
                marks = ",".join("?" * len(part))
                for key, blob in self._db.execute(
                    f"SELECT key, vec FROM vectors WHERE key IN ({marks})", part
                ):
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape == (self.dim,):
                        found[bytes(key)] = vec
        self.hits += len(found)
        self.misses += len(set(keys)) - len(found)
        return found

    def put_many(self, keys: Sequence[bytes], vecs: np.ndarray) -> None:
        rows = [
            (k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in zip(keys, vecs, strict=True)
        ]
        try:
            with self._lock:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)", rows)
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"embedding cache {self.path}: {exc}") from None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

"""Where malformed input goes instead of vanishing: a JSONL file of what, where and why."""

from __future__ import annotations

import os
from collections import Counter
from typing import IO, Literal

import orjson

from datamill.errors import ConfigError, InputError

__all__ = ["ErrorPolicy", "OnError", "Quarantine"]

OnError = Literal["raise", "quarantine"]
_RAW_KEEP = 4096


class Quarantine:
    """Collects malformed records: one JSON line each (file, line, offset, reason, raw excerpt).

    With no ``path`` the entries are only counted and kept in memory (up to 1,000).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = os.fspath(path) if path is not None else None
        self.counts: Counter[str] = Counter()
        self.entries: list[dict] = []
        self._fh: IO[bytes] | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(
        self,
        *,
        path: str,
        line: int | None,
        reason: str,
        kind: str,
        raw: bytes | str | None = None,
        offset: int | None = None,
        size: int | None = None,
    ) -> None:
        """Record one malformed input under ``kind`` (a short reason name used for counting)."""
        self.counts[kind] += 1
        entry: dict = {"path": path, "line": line, "offset": offset, "kind": kind, "reason": reason}
        if raw is not None:
            size = size if size is not None else len(raw)
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            entry["raw"] = text[:_RAW_KEEP]
            entry["raw_size"] = size
            entry["raw_truncated"] = size > _RAW_KEEP
        if len(self.entries) < 1000:
            self.entries.append(entry)
        if self.path is not None:
            if self._fh is None:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
                self._fh = open(self.path, "ab")  # noqa: SIM115
            self._fh.write(orjson.dumps(entry) + b"\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> Quarantine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ErrorPolicy:
    """What a reader does with a malformed record: raise ``InputError`` or quarantine it."""

    def __init__(self, on_error: OnError = "raise", quarantine: Quarantine | None = None) -> None:
        if on_error not in ("raise", "quarantine"):
            raise ConfigError(f"on_error must be 'raise' or 'quarantine', got {on_error!r}")
        self.on_error = on_error
        self.quarantine = quarantine if quarantine is not None else Quarantine()

    def bad(
        self,
        *,
        path: str,
        line: int | None,
        reason: str,
        kind: str,
        raw: bytes | str | None = None,
        offset: int | None = None,
        size: int | None = None,
    ) -> None:
        if self.on_error == "raise":
            raise InputError(reason, path=path, line=line)
        self.quarantine.add(path=path, line=line, reason=reason, kind=kind, raw=raw, offset=offset, size=size)

"""The parts every index kind shares: hits, metadata filters, the :class:`Index` base (search,
add, delete, save) and the lazily built chunk records of a loaded index."""

from __future__ import annotations

import itertools
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datamill.errors import ConfigError
from datamill.records import Document

__all__ = ["FORMAT_VERSION", "Hit", "Index", "parse_filters"]

FORMAT_VERSION = 1


@dataclass
class Hit:
    """One search result: the chunk, its score and its rank (1-based)."""

    chunk: Document
    score: float
    rank: int

    @property
    def id(self) -> str:
        return self.chunk.id

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "id": self.chunk.id,
            "text": self.chunk.text,
            "metadata": self.chunk.metadata,
        }


def _value_text(value: Any) -> str:
    """How a metadata value is written on a command line: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _same(have: Any, want: Any) -> bool:
    if isinstance(want, str) and not isinstance(have, str):
        return _value_text(have) == want
    return have == want and isinstance(have, bool) == isinstance(want, bool)


def parse_filters(items: Iterable[str]) -> dict[str, list[str]]:
    """``["lang=en", "lang=fr", "year=2020"]`` as search filters: a repeated key matches any of its values,
    different keys must all match (the CLI's ``--filter`` and the server's ``?filter=``)."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"filters: key=value expected, got {item!r}", params="filters")
        out.setdefault(key.strip(), []).append(value)
    return out


def _matches(meta: dict[str, Any], filters: dict[str, Any]) -> bool:
    for key, want in filters.items():
        if key not in meta:
            return False
        have = meta[key]
        wants = want if isinstance(want, (list, tuple, set)) else (want,)
        if not any(_same(have, w) for w in wants):
            return False
    return True


def _search_text(chunk: Document) -> str:
    heads = chunk.metadata.get("heading_path") or []
    title = chunk.metadata.get("title")
    prefix = " > ".join([*([title] if title else []), *heads])
    return f"{prefix}\n{chunk.text}" if prefix else chunk.text


class Index(ABC):
    """Base: chunks in order, search, save/load. Subclasses score."""

    kind: str = ""

    def __init__(self, chunks: Sequence[Document] = (), **params: Any) -> None:
        self.chunks: list[Document] = list(chunks)
        self.params = params
        self._metadata_keys: set[str] | None = None

    def __len__(self) -> int:
        return len(self.chunks)

    @abstractmethod
    def _scores(self, query: str, k: int) -> list[tuple[int, float]]:
        """The best ``k`` (chunk position, score) pairs for ``query``, best first."""

    def metadata_keys(self) -> set[str]:
        """Every metadata key some chunk has (what ``filters`` can name)."""
        if self._metadata_keys is None:
            keys: set[str] = set()
            for meta in _metadata_of(self.chunks):
                keys.update(meta)
            self._metadata_keys = keys
        return self._metadata_keys

    def metadata_values(self, key: str) -> dict[str, int]:
        """How many chunks have each value of metadata ``key`` (values written as on a command line),
        most common first."""
        from collections import Counter

        self._check_filter_keys([key])
        counts = Counter(_value_text(meta[key]) for meta in _metadata_of(self.chunks) if key in meta)
        return dict(counts.most_common())

    def unmatched_filter(self, filters: dict[str, list[str]]) -> str | None:
        """Why ``filters`` (as :func:`parse_filters` gives them) can match nothing: the first key none
        of whose values any chunk has, with the values it does have (most common first); else None."""
        for key, wanted in filters.items():
            seen = self.metadata_values(key)
            if not any(v in seen for v in wanted):
                shown = ", ".join(f"{v} ({n:,})" for v, n in list(seen.items())[:10])
                more = f", … {len(seen) - 10:,} more" if len(seen) > 10 else ""
                return f"no chunk has {key}={' or '.join(wanted)}; its values: {shown}{more}"
        return None

    def _check_filter_keys(self, keys: Iterable[str]) -> None:
        known = self.metadata_keys()
        for key in keys:
            if key not in known:
                have = ", ".join(sorted(known)) or "none (the chunks have no metadata)"
                raise ConfigError(f"no chunk has metadata key {key!r}; the chunks have: {have}")

    def search(self, query: str, k: int = 10, *, filters: dict[str, Any] | None = None) -> list[Hit]:
        """Top ``k`` chunks for ``query`` (after metadata ``filters``: key -> value or list of values)."""
        if not isinstance(query, str) or not query.strip():
            raise ConfigError("the query is empty")
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k!r}", params="k")
        if not self.chunks:
            return []
        if filters:
            self._check_filter_keys(filters)
        fetch = k if not filters else min(len(self.chunks), max(k * 20, 100))
        while True:
            scored = self._scores(query, fetch)
            if filters:
                scored = [(i, s) for i, s in scored if _matches(self.chunks[i].metadata, filters)]
            if len(scored) >= k or fetch >= len(self.chunks):
                break
            fetch = min(len(self.chunks), fetch * 4)
        return [Hit(self.chunks[i], s, r + 1) for r, (i, s) in enumerate(scored[:k])]

    def _scores_batch(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        return [self._scores(q, k) for q in queries]

    def search_batch(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """``search`` for many queries at once (dense queries are embedded in one batch)."""
        if any(not isinstance(q, str) or not q.strip() for q in queries):
            raise ConfigError("a query is empty")
        if not self.chunks:
            return [[] for _ in queries]
        return [
            [Hit(self.chunks[i], s, r + 1) for r, (i, s) in enumerate(scored[:k])]
            for scored in self._scores_batch(list(queries), k)
        ]

    def add(self, chunks: Iterable[Document]) -> int:
        new = list(chunks)
        self.chunks.extend(new)
        if self._metadata_keys is not None:
            for c in new:
                self._metadata_keys.update(c.metadata)
        self._grow(new)
        return len(new)

    @abstractmethod
    def _grow(self, new: list[Document]) -> None:
        """Index ``new``, already appended to :attr:`chunks`."""

    def delete(self, ids: Iterable[str]) -> int:
        """Remove the chunks whose id, or whose document's id (``doc_id`` metadata), is in ``ids``;
        returns how many were removed. Nothing is re-embedded: dense vectors and HNSW entries of the
        removed chunks are dropped (BM25, whose statistics are corpus-wide, is rebuilt)."""
        drop = {str(i) for i in ids}
        if not drop:
            return 0
        keep = np.fromiter(
            (
                p
                for p, (cid, meta) in enumerate(_ids_and_metadata(self.chunks))
                if not _dropped(cid, meta, drop)
            ),
            dtype=np.int64,
        )
        removed = len(self.chunks) - len(keep)
        if not removed:
            shown = ", ".join(sorted(drop)[:5])
            raise ConfigError(f"no chunk or document has id {shown}{' ...' if len(drop) > 5 else ''}")
        self._set_chunks(_subset(self.chunks, keep))
        self._shrink(keep)
        self._metadata_keys = None
        return removed

    def _set_chunks(self, chunks: list[Document]) -> None:
        self.chunks = chunks

    @abstractmethod
    def _shrink(self, keep: np.ndarray) -> None:
        """Drop everything but the chunks at positions ``keep`` (:attr:`chunks` is already the kept ones)."""

    # persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> str:
        from datamill.io import write_parquet

        out = os.fspath(path)
        os.makedirs(out, exist_ok=True)
        write_parquet(self.chunks, os.path.join(out, "chunks.parquet")) if self.chunks else None
        self._save_parts(out)
        from datamill import __version__

        with open(os.path.join(out, "index.json"), "w") as fh:
            json.dump(
                {
                    "datamill_index": FORMAT_VERSION,
                    "kind": self.kind,
                    "datamill_version": __version__,
                    "chunks": len(self.chunks),
                    "params": self.params,
                    "metadata_keys": sorted(self.metadata_keys()),
                },
                fh,
                indent=1,
            )
        return out

    @abstractmethod
    def _save_parts(self, out: str) -> None:
        """Write this kind's own files under ``out`` (the chunks and index.json are written for it)."""

    @classmethod
    @abstractmethod
    def _load_parts(cls, path: str, chunks: list[Document], params: dict[str, Any]) -> Index:
        """The index saved under ``path`` by :meth:`_save_parts`, over ``chunks``."""


def _metadata_of(chunks: Sequence[Document]) -> Iterable[dict[str, Any]]:
    """Each chunk's metadata; a loaded index's are read from the Parquet column without building records."""
    if isinstance(chunks, _ChunkStore):
        return chunks.metadata_dicts()
    return (c.metadata for c in chunks)


class _ChunkStore(list):  # type: ignore[type-arg]
    """The chunks of a loaded index: a list whose records are built from the memory-mapped Parquet
    table the first time each is used, so loading a large index costs almost nothing."""

    def __init__(self, table) -> None:  # type: ignore[no-untyped-def]
        super().__init__([None] * table.num_rows)
        self._table = table

    def _make(self, i: int) -> Document:
        import orjson

        row = {name: self._table.column(name)[i].as_py() for name in ("id", "text", "metadata", "provenance")}
        doc = Document(
            id=row["id"],
            text=row["text"],
            metadata=orjson.loads(row["metadata"]),
            provenance=orjson.loads(row["provenance"]),
        )
        super().__setitem__(i, doc)
        return doc

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        doc = super().__getitem__(i)
        return doc if doc is not None else self._make(i if i >= 0 else len(self) + i)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (self[i] for i in range(len(self)))

    def ids(self) -> Iterator[str]:
        raw = itertools.chain(self._table.column("id"), itertools.repeat(None))
        for doc, cell in zip(list.__iter__(self), raw, strict=False):
            yield doc.id if doc is not None else cell.as_py()

    def subset(self, keep: np.ndarray) -> list[Document]:
        """The chunks at positions ``keep`` (ascending), still built lazily from the table."""
        rows = self._table.num_rows
        inside = keep[keep < rows]
        out = _ChunkStore(self._table.take(inside))
        for new_pos, old_pos in enumerate(inside.tolist()):
            doc = list.__getitem__(self, old_pos)
            if doc is not None:
                list.__setitem__(out, new_pos, doc)
        out.extend(list.__getitem__(self, int(p)) for p in keep[keep >= rows])
        return out

    def metadata_dicts(self) -> Iterator[dict[str, Any]]:
        """Each chunk's metadata, parsed from the table for chunks not yet built (``add`` appends
        built records past the table's rows)."""
        import orjson

        raw = itertools.chain(self._table.column("metadata"), itertools.repeat(None))
        for doc, cell in zip(list.__iter__(self), raw, strict=False):
            yield doc.metadata if doc is not None else orjson.loads(cell.as_py())


def _load_chunks(path: str) -> list[Document]:
    import pyarrow.parquet as pq

    return _ChunkStore(pq.read_table(path, memory_map=True))


def _dropped(cid: str, meta: dict[str, Any], drop: set[str]) -> bool:
    return cid in drop or str(meta.get("doc_id")) in drop


def _ids_and_metadata(chunks: Sequence[Document]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, metadata) of each chunk; a loaded index's are read from the Parquet columns."""
    if isinstance(chunks, _ChunkStore):
        return zip(chunks.ids(), chunks.metadata_dicts(), strict=True)
    return ((c.id, c.metadata) for c in chunks)


def _subset(chunks: list[Document], keep: np.ndarray) -> list[Document]:
    if isinstance(chunks, _ChunkStore):
        return chunks.subset(keep)
    return [chunks[int(i)] for i in keep]

"""Retrieval indexes persisted to a folder: BM25 (bm25s), dense (MiniLM + usearch), hybrid (fusion).

    idx = build_index(chunks, "index/", kind="hybrid")     # or "bm25", "dense"
    hits = load_index("index/").search("how do I install it?", k=5, filters={"lang": "en"})

A folder holds ``index.json`` (kind, format version, parameters), ``chunks.parquet`` (the chunk
records) and the kind's files (``bm25/`` and/or ``dense/``). Loading checks the format version and
says what to do when it differs. ``add`` updates an index in place (BM25 statistics are global, so
its part is rebuilt; dense vectors are appended).

``filters`` match chunk metadata (a chunk carries its document's metadata, see ``chunk``): key ->
value, or key -> list of values (any of them). A string value also matches a number or boolean
written the same way (``"2020"`` matches ``2020``, ``"true"`` matches ``True``), so the CLI's
``--filter year=2020`` works. A key that no chunk has is a :class:`~datamill.errors.ConfigError`
naming the keys the chunks do have.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from typing import Any

from datamill.errors import ConfigError, InputError, StorageError
from datamill.incontext._base import (
    FORMAT_VERSION,
    Hit,
    Index,
    _load_chunks,
    parse_filters,
)
from datamill.incontext.bm25 import BM25Index
from datamill.incontext.dense import DenseIndex
from datamill.incontext.hybrid import HybridIndex
from datamill.records import Document

__all__ = [
    "BM25Index",
    "DenseIndex",
    "Hit",
    "HybridIndex",
    "INDEX_KINDS",
    "Index",
    "build_index",
    "load_index",
    "parse_filters",
]

INDEX_KINDS = ("bm25", "dense", "hybrid")


_KINDS: dict[str, type[Index]] = {"bm25": BM25Index, "dense": DenseIndex, "hybrid": HybridIndex}


def build_index(
    chunks: Iterable[Document],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    kind: str = "hybrid",
    **params: Any,
) -> Index:
    """Build an index of ``kind`` over ``chunks`` and save it to ``out_dir`` (when given)."""
    if kind not in _KINDS:
        raise ConfigError(f"kind must be one of {', '.join(INDEX_KINDS)}, got {kind!r}", params="kind")
    chunks = [c for c in chunks if c.text.strip()]
    idx = _KINDS[kind](chunks, **params)
    if out_dir is not None:
        out = os.fspath(out_dir)
        if os.path.isdir(out) and os.listdir(out) and not os.path.exists(os.path.join(out, "index.json")):
            raise StorageError(f"{out} is not empty and holds no datamill index; choose another folder")
        if os.path.exists(os.path.join(out, "index.json")):
            shutil.rmtree(out)
        idx.save(out)
    return idx


def load_index(path: str | os.PathLike[str]) -> Index:
    """Load an index folder; errors say when it is missing, of another format version, or broken."""
    p = os.fspath(path)
    meta_path = os.path.join(p, "index.json")
    if not os.path.exists(meta_path):
        raise InputError(
            "not a datamill index folder (no index.json); build one with `datamill incontext index`", path=p
        )
    try:
        with open(meta_path) as fh:
            meta = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"index.json is unreadable: {exc}", path=p) from None
    version = meta.get("datamill_index")
    if version != FORMAT_VERSION:
        raise InputError(
            f"index format {version!r} was written by datamill {meta.get('datamill_version', '?')}; "
            f"this datamill reads format {FORMAT_VERSION}: rebuild the index",
            path=p,
        )
    kind = meta.get("kind")
    if kind not in _KINDS:
        raise InputError(f"unknown index kind {kind!r}", path=p)
    chunks: list[Document] = []
    cpath = os.path.join(p, "chunks.parquet")
    if os.path.exists(cpath):
        chunks = _load_chunks(cpath)
    if len(chunks) != meta.get("chunks", len(chunks)):
        raise InputError(
            f"index.json says {meta.get('chunks')} chunks but chunks.parquet holds {len(chunks)}", path=p
        )
    try:
        idx = _KINDS[kind]._load_parts(p, chunks, meta.get("params", {}))
    except (OSError, ValueError) as exc:
        raise InputError(f"broken {kind} index files: {exc}", path=p) from None
    if isinstance(meta.get("metadata_keys"), list):  # indexes saved before it was recorded compute it on use
        idx._metadata_keys = set(meta["metadata_keys"])
    return idx

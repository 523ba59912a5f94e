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

import itertools
import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from datamill.errors import ConfigError, InputError, StorageError, require
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
FORMAT_VERSION = 1
_EXACT_BELOW = 20_000  # dense: exact numpy search below this many vectors, usearch HNSW above


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


class BM25Index(Index):
    """Okapi BM25 (Lucene variant) via bm25s, English stop words and Snowball stemming by default."""

    kind = "bm25"

    def __init__(
        self,
        chunks: Sequence[Document] = (),
        *,
        k1: float = 1.5,
        b: float = 0.75,
        stopwords: str | None = "en",
        stemmer: str | None = "english",
        method: str = "lucene",
    ) -> None:
        super().__init__(chunks, k1=k1, b=b, stopwords=stopwords, stemmer=stemmer, method=method)
        self._retriever = None
        if self.chunks:
            self._build()

    def _stem(self):  # noqa: ANN202
        name = self.params["stemmer"]
        if not name:
            return None
        stemmer_mod = require("Stemmer", extra="incontext", purpose="BM25 stemming", package="PyStemmer")
        return stemmer_mod.Stemmer(name)

    def _tokenize(self, texts: list[str]):  # noqa: ANN202
        bm25s = require("bm25s", extra="incontext", purpose="BM25 indexes")
        return bm25s.tokenize(
            texts, stopwords=self.params["stopwords"] or [], stemmer=self._stem(), show_progress=False
        )

    def _build(self) -> None:
        bm25s = require("bm25s", extra="incontext", purpose="BM25 indexes")
        retriever = bm25s.BM25(k1=self.params["k1"], b=self.params["b"], method=self.params["method"])
        retriever.index(self._tokenize([_search_text(c) for c in self.chunks]), show_progress=False)
        self._retriever = retriever

    def _grow(self, new: list[Document]) -> None:
        self._build()  # BM25's idf and average length are corpus-wide: rebuild

    def _scores(self, query: str, k: int) -> list[tuple[int, float]]:
        return self._scores_batch([query], k)[0]

    def _scores_batch(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        assert self._retriever is not None
        q = self._tokenize(list(queries))
        nonempty = [i for i, ids in enumerate(q.ids) if ids]
        out: list[list[tuple[int, float]]] = [[] for _ in queries]
        if not nonempty:
            return out
        sub = type(q)(ids=[q.ids[i] for i in nonempty], vocab=q.vocab)
        docs, scores = self._retriever.retrieve(sub, k=min(k, len(self.chunks)), show_progress=False)
        for row, i in enumerate(nonempty):
            out[i] = [(int(d), float(sc)) for d, sc in zip(docs[row], scores[row], strict=True) if sc > 0]
        return out

    def score_all(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query``."""
        assert self._retriever is not None
        q = self._tokenize([query])
        if not q.ids or not q.ids[0]:
            return np.zeros(len(self.chunks), np.float32)
        vocab = {v: k for k, v in q.vocab.items()}
        return np.asarray(self._retriever.get_scores([vocab[i] for i in q.ids[0]]), dtype=np.float32)

    def _save_parts(self, out: str) -> None:
        if self._retriever is not None:
            self._retriever.save(os.path.join(out, "bm25"))

    @classmethod
    def _load_parts(cls, path: str, chunks: list[Document], params: dict[str, Any]) -> BM25Index:
        bm25s = require("bm25s", extra="incontext", purpose="BM25 indexes")
        idx = cls(**params)
        idx.chunks = chunks
        if chunks:
            idx._retriever = bm25s.BM25.load(os.path.join(path, "bm25"), mmap=True, show_progress=False)
        return idx


class DenseIndex(Index):
    """Sentence embeddings (shipped all-MiniLM-L6-v2 by default), cosine similarity; exact search
    below 20,000 vectors, usearch HNSW above."""

    kind = "dense"

    def __init__(
        self,
        chunks: Sequence[Document] = (),
        *,
        model: str = "all-MiniLM-L6-v2",
        batch_size: int = 64,
        backend: str = "auto",
        quantize: bool = False,
        cache: bool = True,
    ) -> None:
        super().__init__(chunks, model=model, batch_size=batch_size, backend=backend, quantize=quantize)
        self.cache = cache  # vectors of chunks embedded before are read back (not a saved parameter)
        self.vectors = np.zeros((0, 0), np.float32)
        self._ann = None
        if self.chunks:
            self.vectors = self._embed(self.chunks)

    def _embedder(self):  # noqa: ANN202
        from datamill.embed import get_embedder

        p = self.params
        return get_embedder(p["model"], backend=p.get("backend", "auto"), quantize=p.get("quantize", False))

    def _embed(self, chunks: Sequence[Document]) -> np.ndarray:
        return self._embedder().encode(
            [_search_text(c) for c in chunks], batch_size=self.params["batch_size"], cache=self.cache
        )

    def _grow(self, new: list[Document]) -> None:
        vecs = self._embed(new)
        self.vectors = vecs if self.vectors.size == 0 else np.vstack([self.vectors, vecs])
        self._ann = None

    def _ann_index(self):  # noqa: ANN202
        if self._ann is None:
            usearch = require(
                "usearch.index", extra="incontext", purpose="large dense indexes", package="usearch"
            )
            ann = usearch.Index(ndim=self.vectors.shape[1], metric="cos", dtype="f32")
            ann.add(np.arange(len(self.vectors), dtype=np.uint64), self.vectors)
            self._ann = ann
        return self._ann

    def query_vector(self, query: str) -> np.ndarray:
        return self._embedder().encode([query])[0]

    def score_all(self, query: str) -> np.ndarray:
        return self.vectors @ self.query_vector(query)

    def _scores(self, query: str, k: int) -> list[tuple[int, float]]:
        return self._scores_batch([query], k)[0]

    def _scores_batch(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        k = min(k, len(self.chunks))
        qv = self._embedder().encode(list(queries))
        if len(self.vectors) < _EXACT_BELOW:
            out = []
            for sims in qv @ np.asarray(self.vectors).T:
                top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
                top = top[np.argsort(-sims[top], kind="stable")]
                out.append([(int(i), float(sims[i])) for i in top])
            return out
        matches = self._ann_index().search(qv, k)
        return [
            [(int(key), 1.0 - float(dist)) for key, dist in zip(m.keys, m.distances, strict=True)]
            for m in (matches[i] for i in range(len(queries)))
        ]

    def _save_parts(self, out: str) -> None:
        os.makedirs(os.path.join(out, "dense"), exist_ok=True)
        np.save(os.path.join(out, "dense", "vectors.npy"), self.vectors)

    @classmethod
    def _load_parts(cls, path: str, chunks: list[Document], params: dict[str, Any]) -> DenseIndex:
        idx = cls(**params)
        idx.chunks = chunks
        if chunks:
            idx.vectors = np.load(os.path.join(path, "dense", "vectors.npy"), mmap_mode="r")
        return idx


class HybridIndex(Index):
    """BM25 and dense together: a convex combination of min-max normalised scores (``fusion="weighted"``,
    ``alpha`` on the dense side; the default, as Bruch et al. 2023 found it beats RRF), or reciprocal
    rank fusion (``fusion="rrf"``, ``rrf_k``=60)."""

    kind = "hybrid"

    def __init__(
        self,
        chunks: Sequence[Document] = (),
        *,
        fusion: Literal["rrf", "weighted"] = "weighted",
        alpha: float = 0.7,
        rrf_k: int = 60,
        model: str = "all-MiniLM-L6-v2",
        bm25: dict[str, Any] | None = None,
    ) -> None:
        if fusion not in ("rrf", "weighted"):
            raise ConfigError(f"fusion must be 'rrf' or 'weighted', got {fusion!r}")
        super().__init__(chunks, fusion=fusion, alpha=alpha, rrf_k=rrf_k, model=model, bm25=bm25 or {})
        self.bm25 = BM25Index(self.chunks, **(bm25 or {}))
        self.dense = DenseIndex(self.chunks, model=model)
        self.bm25.chunks = self.dense.chunks = self.chunks  # one list, grown once by add()

    def _grow(self, new: list[Document]) -> None:
        self.bm25._grow(new)
        self.dense._grow(new)

    def _scores(self, query: str, k: int) -> list[tuple[int, float]]:
        return self._scores_batch([query], k)[0]

    def _scores_batch(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        n = len(self.chunks)
        depth = min(n, max(k * 4, 100))
        if self.params["fusion"] == "rrf":
            out = []
            for lexical, semantic in zip(
                self.bm25._scores_batch(queries, depth), self.dense._scores_batch(queries, depth), strict=True
            ):
                fused: dict[int, float] = {}
                for ranked in (lexical, semantic):
                    for r, (i, _) in enumerate(ranked):
                        fused[i] = fused.get(i, 0.0) + 1.0 / (self.params["rrf_k"] + r + 1)
                out.append(sorted(fused.items(), key=lambda x: (-x[1], x[0]))[:k])
            return out

        def norm(x: np.ndarray) -> np.ndarray:
            lo, hi = float(x.min()), float(x.max())
            return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)

        qv = self.dense._embedder().encode(list(queries))
        dense_all = qv @ np.asarray(self.dense.vectors).T
        out = []
        for q, d in zip(queries, dense_all, strict=True):
            s = self.params["alpha"] * norm(d) + (1 - self.params["alpha"]) * norm(self.bm25.score_all(q))
            top = np.argsort(-s, kind="stable")[:k]
            out.append([(int(i), float(s[i])) for i in top])
        return out

    def _save_parts(self, out: str) -> None:
        self.bm25._save_parts(out)
        self.dense._save_parts(out)

    @classmethod
    def _load_parts(cls, path: str, chunks: list[Document], params: dict[str, Any]) -> HybridIndex:
        idx = cls(**params)
        idx.chunks = chunks
        idx.bm25 = BM25Index._load_parts(path, chunks, {**(params.get("bm25") or {})})
        idx.dense = DenseIndex._load_parts(path, chunks, {"model": params["model"]})
        idx.bm25.chunks = idx.dense.chunks = idx.chunks
        return idx


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

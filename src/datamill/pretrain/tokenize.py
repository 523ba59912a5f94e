"""Token counts per document, and fixed-size output shards with optional token-id files."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from datamill.errors import ConfigError, InputError
from datamill.io import storage
from datamill.pipeline.step import Mapper
from datamill.records import Document

__all__ = ["ShardSummary", "TokenCount", "shard_corpus"]


class TokenCount(Mapper[Document]):
    """Count each document's tokens into ``metadata["n_tokens"]`` (total in the ``tokens`` counter).

    ``tokenizer`` is a tiktoken encoding name (offline ``cl100k_base`` by default) or a path to a
    Hugging Face ``tokenizer.json``.
    """

    name = "pretrain.tokenize"

    def __init__(self, *, tokenizer: str = "cl100k_base") -> None:
        self.tokenizer = tokenizer
        self._tok: Any = None

    def apply(self, rec: Document) -> Document:
        if self._tok is None:
            from datamill.tokens import get_tokenizer

            self._tok = get_tokenizer(self.tokenizer)
        n = len(self._tok.encode(rec.text))
        rec.metadata["n_tokens"] = n
        self.stats.counters["tokens"] += n
        return rec


class ShardSummary(dict):  # type: ignore[type-arg]
    """What :func:`shard_corpus` wrote (a dict: ``shards``, ``documents``, ``tokens``, ``folder``...)."""


def _docs(files: list[str]) -> Iterator[Document]:
    from datamill.io import read_records

    for rec in read_records(files, record_type="document"):
        if isinstance(rec, Document):
            yield rec


def shard_corpus(
    inputs: str | list[str],
    output: str,
    *,
    tokens_per_shard: int = 100_000_000,
    docs_per_shard: int | None = None,
    format: Literal["parquet", "jsonl", "jsonl.zst"] = "parquet",  # noqa: A002
    tokenizer: str = "cl100k_base",
    token_ids: bool = False,
    eos: bool = True,
) -> ShardSummary:
    """Re-split documents into shards of about ``tokens_per_shard`` tokens (or ``docs_per_shard`` docs).

    Writes ``<output>/shard-NNNNN.<format>`` and ``<output>/index.json``; with ``token_ids`` also
    ``<output>/tokens/shard-NNNNN.bin`` (uint32 token ids, documents back to back, each followed by the
    end-of-text id when ``eos``) and ``shard-NNNNN.idx.npy`` (int64 document start offsets, n+1 entries).
    Documents carrying ``metadata["n_tokens"]`` from :class:`TokenCount` are not re-encoded unless
    ids are needed. Rerunning overwrites with identical files.
    """
    from datamill.io._files import expand_paths
    from datamill.tokens import get_tokenizer

    for key, value in (("tokens_per_shard", tokens_per_shard), ("docs_per_shard", docs_per_shard)):
        if value is not None and value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value!r}", params=key)
    if format not in ("parquet", "jsonl", "jsonl.zst"):
        raise ConfigError(f"format must be parquet, jsonl or jsonl.zst, got {format!r}")
    files = expand_paths(inputs, suffixes=(".parquet", ".jsonl", ".jsonl.gz", ".jsonl.zst"))
    if not files:
        raise InputError("no document files to shard", path=str(inputs))
    tok = get_tokenizer(tokenizer)
    eot = getattr(getattr(tok, "_enc", None), "eot_token", None)
    shards = _ShardFiles(output, format=format, token_ids=token_ids)
    for doc in _docs(files):
        n, ids = _doc_tokens(doc, tok, token_ids=token_ids, eot=eot if eos else None)
        if shards.full(n, tokens_per_shard=tokens_per_shard, docs_per_shard=docs_per_shard):
            shards.close()
        shards.write(doc, n, ids)
    shards.close()
    done = shards.done
    summary = ShardSummary(
        folder=output,
        tokenizer=tok.name,
        format=format,
        token_ids=token_ids,
        dtype="uint32" if token_ids else None,
        eos_id=eot if token_ids and eos else None,
        documents=sum(s["documents"] for s in done),
        tokens=sum(s["tokens"] for s in done),
        shards=done,
    )
    storage.write_json(storage.join(output, "index.json"), summary, indent=1)
    return summary


def _doc_tokens(doc: Document, tok: Any, *, token_ids: bool, eot: int | None) -> tuple[int, list[int] | None]:
    """A document's token count and, with ``token_ids``, its ids (followed by ``eot`` unless None).

    Without ids a count :class:`TokenCount` left in the metadata is used as is."""
    if token_ids:
        ids = tok.encode(doc.text)
        n = len(ids)
        return n, ([*ids, eot] if eot is not None else ids)
    counted = doc.metadata.get("n_tokens")
    return (counted if isinstance(counted, int) else tok.count(doc.text)), None


class _ShardFiles:
    """The output folder of :func:`shard_corpus`: the shard being written and the entries of those done."""

    def __init__(self, output: str, *, format: str, token_ids: bool) -> None:  # noqa: A002
        self.output, self.format, self.token_ids = output, format, token_ids
        self.done: list[dict[str, Any]] = []
        self._writer: Any = None
        self._path = ""
        self.docs = self.tokens = 0
        self._ids: list[np.ndarray] = []
        self._offsets: list[int] = [0]
        storage.makedirs(output)
        if token_ids:
            storage.makedirs(storage.join(output, "tokens"))

    def full(self, n: int, *, tokens_per_shard: int, docs_per_shard: int | None) -> bool:
        """Whether a document of ``n`` tokens belongs in a new shard (a shard holds at least one)."""
        if self._writer is None:
            return False
        return bool(
            self.tokens + n > tokens_per_shard
            and self.docs
            or docs_per_shard is not None
            and self.docs >= docs_per_shard
        )

    def write(self, doc: Document, n: int, ids: list[int] | None) -> None:
        if self._writer is None:
            self._open()
        self._writer.write(doc)
        self.docs += 1
        self.tokens += n
        if ids is not None:
            self._ids.append(np.asarray(ids, dtype=np.uint32))
            self._offsets.append(self._offsets[-1] + len(ids))

    def _open(self) -> None:
        from datamill.io.jsonl import JsonlWriter
        from datamill.io.parquet import ParquetWriter

        self._path = storage.join(self.output, f"shard-{len(self.done):05d}.{self.format}")
        self._writer = ParquetWriter(self._path) if self.format == "parquet" else JsonlWriter(self._path)
        self.docs = self.tokens = 0
        self._ids, self._offsets = [], [0]

    def close(self) -> None:
        """Finish the open shard (if any): close its file, write its token ids, add its index entry."""
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        entry = {"file": posixpath.basename(self._path), "documents": self.docs, "tokens": self.tokens}
        if self.token_ids:
            entry.update(self._write_ids(f"tokens/shard-{len(self.done):05d}"))
        self.done.append(entry)

    def _write_ids(self, stem: str) -> dict[str, Any]:
        """``<stem>.bin`` (the ids) and ``<stem>.idx.npy`` (document offsets), each written then renamed."""
        from datamill.io._files import AtomicFile

        base = storage.join(self.output, *stem.split("/"))
        arr = np.concatenate(self._ids) if self._ids else np.zeros(0, np.uint32)
        tokens = AtomicFile(base + ".bin")
        try:
            arr.tofile(tokens.tmp)
            tokens.commit()
        finally:
            tokens.abort()
        storage.save_npy(base + ".idx.npy", np.asarray(self._offsets, dtype=np.int64))
        return {"token_file": f"{stem}.bin", "index_file": f"{stem}.idx.npy", "token_count": int(len(arr))}

"""Token counts per document, and fixed-size output shards with optional token-id files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from datamill.errors import ConfigError, InputError
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
    from datamill.io.jsonl import JsonlWriter
    from datamill.io.parquet import ParquetWriter
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
    os.makedirs(output, exist_ok=True)
    if token_ids:
        os.makedirs(os.path.join(output, "tokens"), exist_ok=True)
    shards: list[dict[str, Any]] = []
    state: dict[str, Any] = {}

    def open_shard() -> None:
        k = len(shards)
        path = os.path.join(output, f"shard-{k:05d}.{format}")
        state.update(path=path, writer=ParquetWriter(path) if format == "parquet" else JsonlWriter(path),
                     docs=0, tokens=0, ids=[], offsets=[0])

    def close_shard() -> None:
        state["writer"].close()
        entry = {"file": os.path.basename(state["path"]), "documents": state["docs"], "tokens": state["tokens"]}
        if token_ids:
            base = os.path.join(output, "tokens", f"shard-{len(shards):05d}")
            arr = np.concatenate(state["ids"]) if state["ids"] else np.zeros(0, np.uint32)
            arr.tofile(base + ".bin.tmp")
            os.replace(base + ".bin.tmp", base + ".bin")
            with open(base + ".idx.npy.tmp", "wb") as fh:
                np.save(fh, np.asarray(state["offsets"], dtype=np.int64))
            os.replace(base + ".idx.npy.tmp", base + ".idx.npy")
            entry.update(token_file=f"tokens/shard-{len(shards):05d}.bin",
                         index_file=f"tokens/shard-{len(shards):05d}.idx.npy", token_count=int(len(arr)))
        shards.append(entry)
        state.clear()

    for doc in _docs(files):
        if token_ids:
            ids = tok.encode(doc.text)
            n = len(ids)
            if eos and eot is not None:
                ids = [*ids, eot]
        else:
            counted = doc.metadata.get("n_tokens")
            n = counted if isinstance(counted, int) else tok.count(doc.text)
        if state and (state["tokens"] + n > tokens_per_shard and state["docs"]
                      or docs_per_shard is not None and state["docs"] >= docs_per_shard):
            close_shard()
        if not state:
            open_shard()
        state["writer"].write(doc)
        state["docs"] += 1
        state["tokens"] += n
        if token_ids:
            state["ids"].append(np.asarray(ids, dtype=np.uint32))
            state["offsets"].append(state["offsets"][-1] + len(ids))
    if state:
        close_shard()
    summary = ShardSummary(folder=output, tokenizer=tok.name, format=format, token_ids=token_ids,
                           dtype="uint32" if token_ids else None, eos_id=eot if token_ids and eos else None,
                           documents=sum(s["documents"] for s in shards), tokens=sum(s["tokens"] for s in shards),
                           shards=shards)
    with open(os.path.join(output, "index.json.tmp"), "w") as fh:
        json.dump(summary, fh, indent=1)
    os.replace(os.path.join(output, "index.json.tmp"), os.path.join(output, "index.json"))
    return summary

"""Cross-shard dedup as global steps: URL dedup and MinHash-LSH near-dup dedup.

MinHash runs as explicit stages, like datatrove's, and no process holds the whole corpus:

1. **signatures** (``collect``, per shard, parallel): ids, MinHash signatures and LSH band keys to
   ``<work>/sig-NNNNN.parquet`` (their CPU time is summed into the manifest's ``global`` entry as
   ``signature_seconds``).
2. **buckets, verification, clusters** (``reduce``): tasks on the run's executor, over files, with
   one partition per shard (:mod:`datamill.pretrain.lsh`): band keys hash-shuffled into buckets,
   candidate pairs (first member, other member) joined with their two signatures and kept if the
   estimated Jaccard reaches ``threshold``, connected components by large-star/small-star rounds;
   the lowest (shard, position) of a cluster is its representative.
3. **filter** (``apply``, per shard, parallel): drops non-representatives and writes them to
   ``<output>/dedup/minhash-NNNNN.jsonl`` with their cluster id and representative, for audit.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import orjson
import xxhash

from datamill.errors import ConfigError
from datamill.io import storage
from datamill.io._files import AtomicFile, atomic_path
from datamill.minhash import UnionFind, lsh_params
from datamill.pipeline.shuffle import atomic_json
from datamill.pipeline.step import GlobalStep, pass_through_batches
from datamill.pipeline.steps import ExactDedup
from datamill.pretrain.lsh import minhash_reduce, read_assignments, read_plan, sig_path
from datamill.pretrain.minhash import band_hashes, minhash_signatures
from datamill.records import Document

__all__ = ["MinhashDedup", "UrlDedup", "normalize_url"]

_BATCH = 1024
_TRACKING = re.compile(r"^(utm_[a-z]+|fbclid|gclid|sessionid|sid|phpsessid)$", re.IGNORECASE)


def normalize_url(url: str) -> str:
    """Lowercased scheme and host, no fragment, no default port or ``www.``, tracking parameters dropped."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port and parts.port not in (80, 443):
        host += f":{parts.port}"
    query = "&".join(q for q in parts.query.split("&") if q and not _TRACKING.match(q.split("=", 1)[0]))
    path = parts.path or "/"
    return urlunsplit(
        ("https" if parts.scheme in ("http", "https") else parts.scheme.lower(), host, path, query, "")
    )


def _output_dir(workdir: str) -> str:
    """The run's output folder (``<output>/.datamill/work/gN`` -> ``<output>``; a folder or a URL)."""
    if storage.is_local(workdir):
        return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(workdir))))
    return workdir.rstrip("/").rsplit("/", 3)[0]


class UrlDedup(ExactDedup):
    """Keep one document per normalised URL across all shards (the first by shard, then position).

    The exact-dedup machinery keyed on the URL instead of the text. Documents without a URL are kept.
    Drop reason: ``duplicate_url``.
    """

    name = "pretrain.url_dedup"
    reason = "duplicate_url"

    def __init__(self, *, normalize: bool = True) -> None:  # noqa: D107 - no text field: the key is the URL
        self.normalize = normalize

    def _key(self, rec: Document) -> bytes:  # type: ignore[override]
        url = rec.metadata.get("url")
        if not url:  # a random 128-bit key: matches no other document
            return os.urandom(16)
        return xxhash.xxh3_128_digest(
            (normalize_url(url) if self.normalize else url).encode("utf-8", "replace")
        )


class MinhashDedup(GlobalStep[Document]):
    """Near-duplicate removal with MinHash LSH across all shards; one representative per cluster.

    Args:
        threshold: Jaccard similarity above which two documents are duplicates (checked on the
            signatures of candidate pairs when ``verify``).
        num_perm: signature length.
        ngram: shingle size (words, or characters with ``unit="char"``).
        bands, rows: LSH banding; by default FineWeb's 14 x 8, which with threshold 0.65 removes what
            FineWeb's unverified 14 x 8 removes, at higher precision (docs/scaling.md). With fewer than
            112 permutations the default is the optimum for ``threshold`` (:func:`lsh_params`).
        verify: keep a candidate pair only if its estimated Jaccard reaches ``threshold``.
        seed: permutation seed.
        duplicates_file: write dropped documents with their cluster ids under ``<output>/dedup/``.

    Kept representatives of clusters get ``metadata["minhash_cluster"]`` and ``["minhash_cluster_size"]``.
    Drop reason: ``near_duplicate``.
    """

    name = "pretrain.minhash_dedup"

    def __init__(
        self,
        *,
        threshold: float = 0.65,
        num_perm: int = 128,
        ngram: int = 5,
        unit: Literal["word", "char"] = "word",
        bands: int | None = None,
        rows: int | None = None,
        verify: bool = True,
        seed: int = 1,
        duplicates_file: bool = True,
    ) -> None:
        if not 0 < threshold < 1:
            raise ConfigError(f"threshold must be between 0 and 1, got {threshold!r}", params="threshold")
        if (bands is None) != (rows is None):
            raise ConfigError("give both bands and rows, or neither", params=("bands", "rows"))
        if bands is not None and rows is not None and bands * rows > num_perm:
            raise ConfigError(
                f"bands * rows ({bands} * {rows}) exceeds num_perm ({num_perm})",
                params=("bands", "rows", "num_perm"),
            )
        self.threshold, self.num_perm, self.ngram, self.unit = threshold, num_perm, ngram, unit
        if bands and rows:
            self.bands, self.rows = bands, rows
        else:
            self.bands, self.rows = (14, 8) if num_perm >= 112 else lsh_params(threshold, num_perm)
        self.verify, self.seed, self.duplicates_file = verify, seed, duplicates_file

    def _sigs(self, texts: list[str]) -> np.ndarray:
        return minhash_signatures(
            texts, num_perm=self.num_perm, ngram=self.ngram, unit=self.unit, seed=self.seed
        )

    # -- in memory ---------------------------------------------------------------------------
    def __call__(self, records: Iterable[Document]) -> Iterator[Document]:
        recs = list(records)
        sigs = self._sigs([r.text for r in recs])
        roots = _cluster(
            _local_pairs(band_hashes(sigs, bands=self.bands, rows=self.rows)),
            sigs,
            self.threshold if self.verify else 0.0,
        )
        sizes = np.bincount(roots, minlength=len(roots))[roots] if len(roots) else np.zeros(0, np.int64)
        yield from self._filter(recs, roots, np.arange(len(recs)), sizes)

    # -- across shards -----------------------------------------------------------------------
    def collect(self, records: Iterable[Document], *, shard: int, workdir: str) -> Iterator[Document]:
        ids: list[str] = []
        sigs: list[np.ndarray] = []
        seconds = yield from pass_through_batches(records, self._sigs, batch=_BATCH, ids=ids, results=sigs)
        t0 = time.perf_counter()
        sig = np.vstack(sigs) if sigs else np.zeros((0, self.num_perm), np.uint32)
        bands = band_hashes(sig, bands=self.bands, rows=self.rows)
        seconds += time.perf_counter() - t0
        _write_signatures(sig_path(workdir, shard), ids, sig, bands)
        atomic_json(  # the signature stage's CPU time
            storage.join(workdir, f"time-{shard:05d}.json"), {"documents": len(ids), "seconds": seconds}
        )

    def reduce(self, *, workdir: str, num_shards: int, executor: Any = None) -> dict[str, Any]:
        """The distributed reduce (:mod:`datamill.pretrain.lsh`) on ``executor`` (in this process if None)."""
        import pyarrow.parquet as pq

        t0 = time.perf_counter()
        sig_seconds, counts = 0.0, []
        for s in range(num_shards):
            with storage.arrow_source(sig_path(workdir, s)) as src:
                counts.append(pq.read_metadata(src).num_rows)
            sig_seconds += float(storage.read_json(storage.join(workdir, f"time-{s:05d}.json"))["seconds"])
        info = minhash_reduce(
            executor,
            workdir,
            counts,
            threshold=self.threshold,
            verify=self.verify,
            num_perm=self.num_perm,
        )
        return {
            **info,
            "bands": self.bands,
            "rows": self.rows,
            "bucket_engine": "hash_shuffle",
            "signature_seconds": round(sig_seconds, 3),
            "cluster_seconds": round(time.perf_counter() - t0, 3),
        }

    def apply(self, records: Iterable[Document], *, shard: int, workdir: str) -> Iterator[Document]:
        lo, hi = read_plan(workdir)["offsets"][shard : shard + 2]
        gids = np.arange(lo, hi, dtype=np.int64)
        roots, sizes = gids.copy(), np.ones(hi - lo, np.int64)
        got = read_assignments(workdir, shard)
        pos = got["member"].astype(np.int64) - lo
        roots[pos], sizes[pos] = got["root"], got["size"]
        rep_ids = {int(r): str(i) for r, i in zip(got["root"].tolist(), got["rep_id"], strict=True)}
        side = target = None
        if self.duplicates_file:
            target = AtomicFile(storage.join(_output_dir(workdir), "dedup", f"minhash-{shard:05d}.jsonl"))
            side = open(target.tmp, "wb")  # noqa: SIM115 - closed below, moved into place when complete
        try:
            yield from self._filter(records, roots, gids, sizes, side, rep_ids)
        finally:
            if side is not None and target is not None:
                side.close()
                target.commit()

    def _filter(
        self,
        records: Iterable[Document],
        roots: np.ndarray,
        gids: np.ndarray,
        sizes: np.ndarray,
        side: Any = None,
        rep_ids: dict[int, str] | None = None,
    ) -> Iterator[Document]:
        """Keep each cluster's representative (``root == gid``); ``sizes`` is each record's cluster size."""
        st = self.stats
        for rec, root, gid, size in zip(records, roots.tolist(), gids.tolist(), sizes.tolist(), strict=True):
            st.seen += 1
            if root == gid:
                if size > 1:
                    rec.metadata["minhash_cluster"] = int(root)
                    rec.metadata["minhash_cluster_size"] = size
                st.kept += 1
                yield rec
                continue
            st.drop("near_duplicate", rec)
            if side is not None:
                side.write(
                    orjson.dumps(
                        {
                            "id": rec.id,
                            "cluster": int(root),
                            "cluster_size": size,
                            "representative": (rep_ids or {}).get(root),
                            "url": rec.metadata.get("url"),
                            "text": rec.text,
                        }
                    )
                    + b"\n"
                )


def _write_signatures(path: str, ids: list[str], sig: np.ndarray, bands: np.ndarray) -> None:
    """One shard's ids, signatures and band keys as Parquet (written aside, then renamed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def rows(a: np.ndarray) -> Any:
        return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(a).ravel()), a.shape[1])

    table = pa.table({"id": pa.array(ids, pa.string()), "sig": rows(sig), "bands": rows(bands)})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _local_pairs(bands: np.ndarray) -> np.ndarray:
    """Candidate pairs (first member, member) of every bucket, from a sort of (band key, doc)."""
    n, nb = bands.shape
    if n == 0:
        return np.zeros((0, 2), np.int64)
    # band-major: keys of band b are rows b*n .. b*n+n-1 (keys of different bands differ: xor band)
    return _pairs(bands.T.ravel(), np.tile(np.arange(n, dtype=np.int64), nb))


def _pairs(keys: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """(first member, member) for every bucket of the rows ``(keys[i], docs[i])``, deduplicated."""
    if len(keys) == 0:
        return np.zeros((0, 2), np.int64)
    order = np.lexsort((docs, keys))
    sk, sd = keys[order], docs[order]
    new = np.r_[True, sk[1:] != sk[:-1]]
    first = sd[np.flatnonzero(new)][np.cumsum(new) - 1]
    pairs = np.stack([first, sd], axis=1)[~new]
    return np.unique(pairs, axis=0) if len(pairs) else pairs


def _cluster(pairs: np.ndarray, sigs: np.ndarray, threshold: float) -> np.ndarray:
    """Union-find over verified candidate pairs; each document's root is its cluster's lowest index."""
    uf = UnionFind(len(sigs))
    if len(pairs):
        if threshold > 0:
            sim = (sigs[pairs[:, 0]] == sigs[pairs[:, 1]]).mean(axis=1)
            pairs = pairs[sim >= threshold]
        for a, b in pairs.tolist():
            uf.union(a, b)
    return np.fromiter((uf.find(i) for i in range(len(sigs))), dtype=np.int64, count=len(sigs))

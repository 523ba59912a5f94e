"""Semantic dedup (SemDeDup) as a global step: documents that say the same thing in other words.

MinHash finds documents that share word n-grams; a paraphrase, a translation back and forth or a
reworded template shares few of them. This step runs after it:

1. **embed** (``collect``, per shard, parallel): each document's embedding (``datamill.embed``;
   the model reads the first ``max_seq_length`` word pieces) to ``<work>/emb-NNNNN.npy``.
2. **cluster** (``reduce``): spherical k-means into about ``records / cluster_size`` clusters.
3. **pairs** (``reduce``): cosine similarity of every pair inside each cluster; pairs at or above
   ``threshold`` are duplicates. Clusters are split into tasks the run's executor maps (process
   pool locally, Ray tasks on Ray). As in the paper, a document with an earlier match (by shard, then
   position) is a duplicate; its representative is the kept document its best match leads back to.
4. **filter** (``apply``, per shard, parallel): drops non-representatives and writes them with their
   representative and similarity to ``<output>/dedup/semantic-NNNNN.jsonl``.

Placed after :class:`~datamill.pretrain.MinhashDedup`, what it drops is what MinHash missed: the
manifest's ``global`` entries give both counts side by side.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import orjson

from datamill.pipeline.step import GlobalStep, pass_through_batches
from datamill.records import Document
from datamill.semdedup import (
    check_semdedup_params,
    cluster_pairs,
    groups_of,
    kmeans,
    merge_pairs,
    nearest_centroids,
)

__all__ = ["SemanticDedup"]

_BATCH = 256
_PAIR_TASKS = 16  # the per-cluster pair search is cut into about this many executor tasks


def _output_dir(workdir: str) -> str:
    """The run's output folder (``<output>/.datamill/work/gN`` -> ``<output>``)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(workdir))))


def _pair_task(workdir: str, task: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """One executor task: the duplicate pairs inside the clusters listed in ``task-NNNNN.npz``."""
    vecs = np.load(os.path.join(workdir, "emb-all.npy"), mmap_mode="r")
    with np.load(os.path.join(workdir, f"task-{task:05d}.npz")) as z:
        members, bounds = z["members"], z["bounds"]
    found = [
        cluster_pairs(vecs, members[a:b], threshold) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    if not found:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
    return np.concatenate([p for p, _ in found]), np.concatenate([s for _, s in found])


class SemanticDedup(GlobalStep[Document]):
    """Drop documents whose embedding is within ``threshold`` cosine of an earlier one (SemDeDup).

    Args:
        threshold: cosine similarity at or above which two documents are duplicates (the paper's
            ``1 - eps``). With MiniLM, 0.8 kept every distinct Self-Instruct seed task apart while
            finding the closer of the hand-written paraphrases (``benchmarks/semdedup_paraphrases.py``).
        cluster_size: documents per k-means cluster on average (pairs are compared inside clusters).
        probes: clusters each document is compared in (2 also finds pairs split across a boundary).
        model: embedding model for ``datamill.embed`` (the shipped all-MiniLM-L6-v2 by default).
        seed: k-means seed.
        duplicates_file: write dropped documents with their representative under ``<output>/dedup/``.

    A kept document that others duplicate gets ``metadata["semantic_cluster"]`` (its index) and
    ``["semantic_cluster_size"]`` (itself and its duplicates). Drop reason: ``semantic_duplicate``.
    """

    name = "pretrain.semantic_dedup"

    def __init__(
        self,
        *,
        threshold: float = 0.8,
        cluster_size: int = 1000,
        probes: int = 1,
        model: str = "all-MiniLM-L6-v2",
        seed: int = 0,
        duplicates_file: bool = True,
    ) -> None:
        check_semdedup_params(threshold=threshold, cluster_size=cluster_size, probes=probes)
        self.threshold, self.cluster_size, self.probes = threshold, cluster_size, probes
        self.model, self.seed, self.duplicates_file = model, seed, duplicates_file

    def _embed(self, texts: list[str]) -> np.ndarray:
        from datamill.embed import get_embedder

        return get_embedder(self.model).encode(texts).astype(np.float32)

    def _groups(self, vecs: np.ndarray) -> tuple[list[np.ndarray], int]:
        k = max(1, -(-len(vecs) // self.cluster_size))
        centroids = kmeans(vecs, k, seed=self.seed)
        k = len(centroids)
        assign = nearest_centroids(vecs, centroids, min(self.probes, k))
        return [g for g in groups_of(assign, k) if len(g) > 1], k

    # -- in memory ---------------------------------------------------------------------------
    def __call__(self, records: Iterable[Document]) -> Iterator[Document]:
        recs = list(records)
        vecs = self._embed([r.text for r in recs]) if recs else np.zeros((0, 1), np.float32)
        groups, _ = self._groups(vecs) if recs else ([], 0)
        found = [cluster_pairs(vecs, g, self.threshold) for g in groups]
        pairs = np.concatenate([p for p, _ in found]) if found else np.zeros((0, 2), np.int64)
        sims = np.concatenate([s for _, s in found]) if found else np.zeros(0, np.float32)
        roots, best = merge_pairs(len(recs), pairs, sims)
        reps = {int(r): recs[int(r)].id for r in np.unique(roots)}
        yield from self._filter(recs, roots, best, np.arange(len(recs)), None, None, reps)

    # -- across shards -----------------------------------------------------------------------
    def collect(self, records: Iterable[Document], *, shard: int, workdir: str) -> Iterator[Document]:
        ids: list[str] = []
        vecs: list[np.ndarray] = []
        seconds = yield from pass_through_batches(records, self._embed, batch=_BATCH, ids=ids, results=vecs)
        emb = np.vstack(vecs) if vecs else np.zeros((0, 0), np.float32)
        np.save(os.path.join(workdir, f"emb-{shard:05d}.npy"), emb)
        with open(os.path.join(workdir, f"ids-{shard:05d}.json"), "wb") as fh:
            fh.write(orjson.dumps({"ids": ids, "seconds": seconds}))

    def reduce(self, *, workdir: str, num_shards: int, executor: Any = None) -> dict[str, Any]:
        t0 = time.perf_counter()
        parts = [np.load(os.path.join(workdir, f"emb-{s:05d}.npy")) for s in range(num_shards)]
        sizes = [len(p) for p in parts]
        ids: list[str] = []
        embed_seconds = 0.0
        for s in range(num_shards):
            with open(os.path.join(workdir, f"ids-{s:05d}.json"), "rb") as fh:
                meta = orjson.loads(fh.read())
            ids.extend(meta["ids"])
            embed_seconds += float(meta["seconds"])
        nonempty = [p for p in parts if len(p)]
        vecs = np.vstack(nonempty).astype(np.float32) if nonempty else np.zeros((0, 1), np.float32)
        np.save(os.path.join(workdir, "emb-all.npy"), vecs)
        groups, k = self._groups(vecs) if len(vecs) else ([], 0)
        pairs, sims, engine = self._pairs(groups, workdir, executor)
        roots, best = merge_pairs(len(vecs), pairs, sims)
        offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        for s in range(num_shards):
            lo, hi = offsets[s], offsets[s + 1]
            np.save(os.path.join(workdir, f"roots-{s:05d}.npy"), roots[lo:hi])
            np.save(os.path.join(workdir, f"sim-{s:05d}.npy"), best[lo:hi])
        sizes_by_root = np.bincount(roots, minlength=len(roots)) if len(roots) else np.zeros(0, np.int64)
        np.save(os.path.join(workdir, "group-sizes.npy"), sizes_by_root)
        with open(os.path.join(workdir, "rep-ids.json"), "wb") as fh:
            reps = sorted(set(roots[roots != np.arange(len(roots))].tolist()))
            fh.write(orjson.dumps({str(r): ids[r] for r in reps}))
        multi = sizes_by_root[sizes_by_root > 1]
        return {
            "records": int(len(roots)),
            "kmeans_clusters": int(k),
            "duplicate_pairs": int(len(np.unique(pairs, axis=0))),
            "groups": int(len(multi)),
            "duplicates": int((multi - 1).sum()),
            "threshold": self.threshold,
            "pair_engine": engine,
            "embed_seconds": round(embed_seconds, 3),
            "cluster_seconds": round(time.perf_counter() - t0, 3),
        }

    def _pairs(
        self, groups: list[np.ndarray], workdir: str, executor: Any
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """Duplicate pairs of every cluster, cut into tasks for the executor (here when there is none)."""
        if not groups:
            return np.zeros((0, 2), np.int64), np.zeros(0, np.float32), "none"
        cost = np.array([len(g) ** 2 for g in groups], dtype=np.float64)
        ntasks = max(1, min(_PAIR_TASKS, len(groups), getattr(executor, "workers", 1) * 4))
        # balance tasks by pair count: biggest clusters first, each to the lightest task so far
        loads = np.zeros(ntasks)
        owned: list[list[int]] = [[] for _ in range(ntasks)]
        for c in np.argsort(-cost, kind="stable").tolist():
            t = int(loads.argmin())
            owned[t].append(c)
            loads[t] += cost[c]
        tasks = []
        for t, cs in enumerate(owned):
            if not cs:
                continue
            members = [groups[c] for c in sorted(cs)]
            bounds = np.r_[0, np.cumsum([len(m) for m in members])].astype(np.int64)
            np.savez(
                os.path.join(workdir, f"task-{t:05d}.npz"), members=np.concatenate(members), bounds=bounds
            )
            tasks.append((workdir, t, self.threshold))
        results: list[Any] = [None] * len(tasks)
        if executor is None or len(tasks) == 1:
            for i, args in enumerate(tasks):
                results[i] = _pair_task(*args)
            engine = "in_process"
        else:
            executor.map(_pair_task, tasks, results.__setitem__)
            engine = f"{executor.kind}_tasks"
        pairs = np.concatenate([p for p, _ in results])
        sims = np.concatenate([s for _, s in results])
        return pairs, sims, engine

    def apply(self, records: Iterable[Document], *, shard: int, workdir: str) -> Iterator[Document]:
        roots = np.load(os.path.join(workdir, f"roots-{shard:05d}.npy"))
        best = np.load(os.path.join(workdir, f"sim-{shard:05d}.npy"))
        offset = sum(
            len(np.load(os.path.join(workdir, f"roots-{s:05d}.npy"), mmap_mode="r")) for s in range(shard)
        )
        sizes = np.load(os.path.join(workdir, "group-sizes.npy"), mmap_mode="r")
        with open(os.path.join(workdir, "rep-ids.json"), "rb") as fh:
            rep_ids = orjson.loads(fh.read())
        side = None
        if self.duplicates_file:
            path = os.path.join(_output_dir(workdir), "dedup", f"semantic-{shard:05d}.jsonl")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            side = open(path + ".tmp", "wb")  # noqa: SIM115 - closed below, renamed when complete
        try:
            yield from self._filter(
                records,
                roots,
                best,
                offset + np.arange(len(roots)),
                side,
                sizes,
                {int(k): v for k, v in rep_ids.items()},
            )
        finally:
            if side is not None:
                side.close()
                os.replace(side.name, side.name[:-4])

    def _filter(
        self,
        records: Iterable[Document],
        roots: np.ndarray,
        best: np.ndarray,
        gids: np.ndarray,
        side: Any,
        sizes: np.ndarray | None,
        rep_ids: dict[int, str],
    ) -> Iterator[Document]:
        if sizes is None:
            sizes = np.bincount(roots, minlength=len(roots)) if len(roots) else np.zeros(0, np.int64)
        st = self.stats
        for rec, root, sim, gid in zip(records, roots.tolist(), best.tolist(), gids.tolist(), strict=True):
            st.seen += 1
            size = int(sizes[root])
            if root == gid:
                if size > 1:
                    rec.metadata["semantic_cluster"] = int(root)
                    rec.metadata["semantic_cluster_size"] = size
                st.kept += 1
                yield rec
                continue
            st.drop("semantic_duplicate", rec)
            if side is not None:
                row = {
                    "id": rec.id,
                    "group": int(root),
                    "group_size": size,
                    "representative": rep_ids.get(int(root)),
                    "similarity": round(float(sim), 4),
                    "url": rec.metadata.get("url"),
                    "text": rec.text,
                }
                side.write(orjson.dumps(row) + b"\n")

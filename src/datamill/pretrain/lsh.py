"""The MinHash reduce as tasks over files: no process holds more than one shard or one partition.

:class:`~datamill.pretrain.dedup.MinhashDedup` writes each shard's ids, signatures and band keys to
``sig-NNNNN.parquet``; :func:`minhash_reduce` then runs, on the run's executor (local processes or
Ray tasks), with ``P`` partitions (one per shard):

1. **bands** (per shard): rows ``(band key, document)`` hash-partitioned on the key.
2. **buckets** (per partition): rows grouped by key; each bucket of several documents gives the
   candidate pairs (its first document, each other one), routed to the first document's shard.
3. **first signatures** (per shard): each pair picks up its first document's signature, routed to
   the other document's shard; **verify** (per shard): the pair is kept if the two signatures agree
   on at least ``threshold`` of their values. Kept pairs become edges hash-partitioned on a node.
4. **components** (per partition, in rounds): :func:`datamill.pipeline.components.connected_components`.
5. **members** (per partition): each cluster's centre (its smallest document) lists its members and
   the cluster size, routed to the centre's shard; **names** (per shard): the centre's document id is
   looked up, then every member's row goes to its own shard for the filter pass.

Documents are numbered globally by (shard, position), so "smallest" is the first occurrence and the
result is the same whatever executor ran it and however many partitions there are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datamill.io import storage
from datamill.pipeline.components import connected_components, star_groups
from datamill.pipeline.shuffle import (
    atomic_json,
    hash_partition,
    part_paths,
    read_partition,
    run_tasks,
    shard_of,
    write_partitioned,
)

__all__ = ["minhash_reduce", "read_assignments", "read_plan", "sig_path"]


def sig_path(workdir: str, shard: int) -> str:
    return storage.join(workdir, f"sig-{shard:05d}.parquet")


def _path(workdir: str, phase: str, i: int) -> str:
    return storage.join(workdir, "lsh", phase, f"part-{i:05d}.arrow")


def read_plan(workdir: str) -> dict[str, Any]:
    return storage.read_json(storage.join(workdir, "lsh", "plan.json"))  # type: ignore[no-any-return]


def _read_sig(workdir: str, shard: int, column: str) -> np.ndarray:
    import pyarrow.parquet as pq

    with storage.arrow_source(sig_path(workdir, shard)) as src:
        col = pq.read_table(src, columns=[column]).column(column).combine_chunks()
    if column == "id":
        return np.array(col.to_pylist(), dtype=object)
    width = col.type.list_size
    return col.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)


def _bands(workdir: str, shard: int, num_partitions: int) -> dict[str, Any]:
    off = read_plan(workdir)["offsets"][shard]
    bands = _read_sig(workdir, shard, "bands")
    n, nb = bands.shape
    keys = bands.T.ravel()  # band-major; keys of different bands differ (the band is xor-ed in)
    gids = np.tile(np.arange(off, off + n, dtype=np.int64), nb)
    out = _path(workdir, "bands", shard)
    write_partitioned(out, {"key": keys, "gid": gids}, hash_partition(keys, num_partitions), num_partitions)
    return {"rows": int(n * nb)}


def _buckets(workdir: str, partition: int, num_shards: int) -> dict[str, Any]:
    from datamill.pretrain.dedup import _pairs

    offsets = np.asarray(read_plan(workdir)["offsets"], dtype=np.int64)
    d = read_partition([_path(workdir, "bands", s) for s in range(num_shards)], partition, ("key", "gid"))
    pairs = _pairs(d["key"], d["gid"].astype(np.int64))
    out = _path(workdir, "pairs", partition)
    write_partitioned(out, {"a": pairs[:, 0], "b": pairs[:, 1]}, shard_of(pairs[:, 0], offsets), num_shards)
    return {"rows": len(pairs)}


def _first_signatures(workdir: str, shard: int, num_partitions: int, verify: bool) -> dict[str, Any]:
    plan = read_plan(workdir)
    offsets = np.asarray(plan["offsets"], dtype=np.int64)
    d = read_partition([_path(workdir, "pairs", p) for p in range(num_partitions)], shard, ("a", "b"))
    ab = np.stack([d["a"].astype(np.int64), d["b"].astype(np.int64)], axis=1)
    ab = np.unique(ab, axis=0) if len(ab) else ab.reshape(0, 2)  # a pair found in several bands, once
    cols: dict[str, np.ndarray] = {"a": ab[:, 0], "b": ab[:, 1]}
    if verify and len(ab):
        cols["sig"] = _read_sig(workdir, shard, "sig")[ab[:, 0] - offsets[shard]]
    elif verify:
        cols["sig"] = np.zeros((0, plan["num_perm"]), np.uint32)
    num_shards = len(offsets) - 1
    write_partitioned(_path(workdir, "sigpairs", shard), cols, shard_of(ab[:, 1], offsets), num_shards)
    return {"candidate_pairs": len(ab)}


def _verify(workdir: str, shard: int, num_partitions: int, threshold: float, verify: bool) -> dict[str, Any]:
    offsets = np.asarray(read_plan(workdir)["offsets"], dtype=np.int64)
    paths = [_path(workdir, "sigpairs", s) for s in range(len(offsets) - 1)]
    d = read_partition(paths, shard, ("a", "b", "sig") if verify else ("a", "b"))
    a, b = d["a"].astype(np.int64), d["b"].astype(np.int64)
    if verify and len(a):
        sig_b = _read_sig(workdir, shard, "sig")[b - offsets[shard]]
        keep = (d["sig"] == sig_b).mean(axis=1) >= threshold
        a, b = a[keep], b[keep]
    x, y = np.r_[a, b], np.r_[b, a]
    out = _path(workdir, "edges", shard)
    write_partitioned(out, {"u": x, "v": y}, hash_partition(x, num_partitions), num_partitions)
    return {"verified_pairs": len(a)}


def _members(workdir: str, edges: tuple[str, int], partition: int, num_shards: int) -> dict[str, Any]:
    offsets = np.asarray(read_plan(workdir)["offsets"], dtype=np.int64)
    u, v, group, starts = star_groups(part_paths(*edges), partition)
    centre_group = v[starts] > u[starts]  # a centre's neighbours are all larger: its cluster's members
    rows = centre_group[group]
    size = np.bincount(group, minlength=len(starts)) + 1
    centres = u[starts][centre_group]
    root = np.r_[u[rows], centres]
    member = np.r_[v[rows], centres]
    sizes = np.r_[size[group][rows], size[centre_group]]
    out = _path(workdir, "members", partition)
    write_partitioned(
        out, {"root": root, "member": member, "size": sizes}, shard_of(root, offsets), num_shards
    )
    hist = np.unique(size[centre_group], return_counts=True)
    return {"histogram": {str(k): int(c) for k, c in zip(*hist, strict=True)}}


def _names(workdir: str, shard: int, num_partitions: int) -> dict[str, Any]:
    offsets = np.asarray(read_plan(workdir)["offsets"], dtype=np.int64)
    paths = [_path(workdir, "members", p) for p in range(num_partitions)]
    d = read_partition(paths, shard, ("root", "member", "size"))
    root = d["root"].astype(np.int64)
    ids = _read_sig(workdir, shard, "id") if len(root) else np.zeros(0, dtype=object)
    rep = ids[root - offsets[shard]] if len(root) else np.zeros(0, dtype=object)
    member = d["member"].astype(np.int64)
    cols = {"member": member, "root": root, "size": d["size"].astype(np.int64), "rep_id": rep}
    write_partitioned(_path(workdir, "assign", shard), cols, shard_of(member, offsets), len(offsets) - 1)
    return {"rows": len(member)}


def read_assignments(workdir: str, shard: int) -> dict[str, np.ndarray]:
    """This shard's clustered documents: ``member`` (global index), ``root``, ``size``, ``rep_id``."""
    n = len(read_plan(workdir)["offsets"]) - 1
    paths = [_path(workdir, "assign", s) for s in range(n)]
    return read_partition(paths, shard, ("member", "root", "size", "rep_id"))


def minhash_reduce(
    executor: Any, workdir: str, counts: list[int], *, threshold: float, verify: bool, num_perm: int
) -> dict[str, Any]:
    """Run the MinHash reduce over shards of ``counts`` documents; returns the manifest summary."""
    num_shards = parts = len(counts)
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    plan = {"offsets": offsets.tolist(), "partitions": parts, "num_perm": num_perm}
    atomic_json(storage.join(workdir, "lsh", "plan.json"), plan)

    def phase(name: str, fn: Any, tasks: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        markers = [_path(workdir, name, i) + ".json" for i in range(len(tasks))]
        return run_tasks(executor, fn, tasks, markers)

    shards, partitions = range(num_shards), range(parts)
    phase("bands", _bands, [(workdir, s, parts) for s in shards])
    phase("pairs", _buckets, [(workdir, p, num_shards) for p in partitions])
    cands = phase("sigpairs", _first_signatures, [(workdir, s, parts, verify) for s in shards])
    th = threshold if verify else 0.0
    kept = phase("edges", _verify, [(workdir, s, parts, th, verify) for s in shards])
    edges = (storage.join(workdir, "lsh", "edges"), num_shards)
    cc = connected_components(executor, storage.join(workdir, "lsh"), edges, parts)
    final = (cc["folder"], cc["files"])
    hist: dict[int, int] = {}
    for r in phase("members", _members, [(workdir, final, p, num_shards) for p in partitions]):
        for k, c in r["histogram"].items():
            hist[int(k)] = hist.get(int(k), 0) + c
    phase("assign", _names, [(workdir, s, parts) for s in shards])
    return {
        "records": int(offsets[-1]),
        "candidate_pairs": sum(r["candidate_pairs"] for r in cands),
        "verified_pairs": sum(r["verified_pairs"] for r in kept),
        "clusters": sum(hist.values()),
        "duplicates": sum((k - 1) * c for k, c in hist.items()),
        "partitions": parts,
        "component_rounds": cc["rounds"],
        "cluster_size_histogram": {str(k): hist[k] for k in sorted(hist)},
    }

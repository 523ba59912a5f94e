"""Connected components of an edge list that no single process holds: alternating large-star and
small-star steps (Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC 2014).

Edge files hold rows ``(u, v)``, "``v`` is a neighbour of ``u``", both directions of every edge,
hash-partitioned on ``u`` (:func:`datamill.pipeline.shuffle.write_partitioned`). Each step is one task
per partition that groups its rows by ``u`` and writes the new edges partitioned the same way:

* large-star: ``u`` links every larger neighbour to ``m(u)``, the smallest of ``u`` and its neighbours;
* small-star: ``u`` links itself and its smaller neighbours to the smallest of them.

Each step reports how many nodes changed their edges; when a large-star and the small-star after it
both change nothing, every component is a star whose centre is its smallest node (O(log² n) rounds,
a handful for near-duplicate clusters). The driver holds two counters per task, never the edges.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datamill.errors import StorageError
from datamill.io import storage
from datamill.pipeline.shuffle import hash_partition, part_paths, read_partition, run_tasks, write_partitioned

__all__ = ["connected_components", "star_groups"]

MAX_ROUNDS = 200


def star_groups(paths: list[str], partition: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Partition ``partition`` of edge files, deduplicated and sorted by ``(u, v)``:
    ``(u, v, group index of each row, first row of each group)``."""
    d = read_partition(paths, partition, ("u", "v"))
    u, v = d["u"].astype(np.int64), d["v"].astype(np.int64)
    if len(u):
        uv = np.unique(np.stack([u, v], axis=1), axis=0)
        u, v = uv[:, 0], uv[:, 1]
    new = np.r_[True, u[1:] != u[:-1]] if len(u) else np.zeros(0, bool)
    return u, v, np.cumsum(new) - 1, np.flatnonzero(new)


def _star_step(
    kind: str, inputs: tuple[str, int], partition: int, out: str, num_partitions: int
) -> dict[str, Any]:
    u, v, group, starts = star_groups(part_paths(*inputs), partition)
    smallest = v[starts][group]  # each row's smallest neighbour of its node (rows are sorted by v)
    if kind == "large":
        m = np.minimum(u, smallest)
        larger = v > u
        a, b = v[larger], m[larger]
        changed = len(np.unique(group[larger & (m < u)]))
    else:
        smaller = v < u
        relink = smaller & (v != smallest)
        heads = starts[
            smallest[starts] < u[starts]
        ]  # nodes with a smaller neighbour link to the smallest one
        a, b = np.r_[v[relink], u[heads]], np.r_[smallest[relink], smallest[heads]]
        changed = int((np.bincount(group[smaller], minlength=len(starts)) >= 2).sum())
    x, y = np.r_[a, b], np.r_[b, a]
    write_partitioned(out, {"u": x, "v": y}, hash_partition(x, num_partitions), num_partitions)
    return {"changed": int(changed), "edges": len(a)}


def connected_components(
    executor: Any, workdir: str, inputs: tuple[str, int], num_partitions: int
) -> dict[str, Any]:
    """Run star steps over the edge files ``inputs`` (a folder and how many ``part-NNNNN.arrow`` files
    it holds) until every component is a star.

    Returns ``{"folder": ..., "files": ..., "rounds": large+small rounds}``: in the final files every
    node's neighbours are either all larger (a centre, its component's smallest node) or one smaller
    node (its centre). Finished steps are skipped on a rerun, so a killed driver resumes. Tasks name
    their input files by folder and count, so the driver's task list grows with the partitions, not
    with their square.
    """
    cur, step = inputs, 0
    for rnd in range(1, MAX_ROUNDS + 1):
        changed = 0
        for kind in ("large", "small"):
            folder = storage.join(workdir, f"cc-{step:03d}-{kind}")
            outs = part_paths(folder, num_partitions)
            results = run_tasks(
                executor,
                _star_step,
                [(kind, cur, p, outs[p], num_partitions) for p in range(num_partitions)],
                [o + ".json" for o in outs],
            )
            changed += sum(r["changed"] for r in results)
            if step > 0:  # the previous step's files were only this step's input
                storage.rmtree(cur[0])
            cur, step = (folder, num_partitions), step + 1
        if changed == 0:
            return {"folder": cur[0], "files": cur[1], "rounds": rnd}
    raise StorageError(f"connected components did not converge in {MAX_ROUNDS} rounds under {workdir}")

"""Hash shuffles through files: how global steps reduce with no process holding every row.

A *map* task writes one Arrow IPC file holding one record batch per partition (its rows sorted by
partition); the *reduce* task of partition ``p`` reads batch ``p`` of every map file. The driver only
schedules tasks and keeps their small summaries, so its memory grows with the number of tasks, never
with the number of rows. Each task writes to a private temporary name and renames, then leaves a
done-marker with its summary (all of it on the run's store: a folder or a URL such as ``s3://``;
:func:`datamill.io._files.atomic_path` writes a local temporary file that is then renamed or put
whole). A retried task (Ray re-running work of a lost node) or a resumed driver
(a killed run started again) rewrites the same bytes or skips the task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from datamill.io import storage
from datamill.io._files import atomic_path

__all__ = [
    "atomic_json",
    "hash_partition",
    "part_paths",
    "read_partition",
    "run_tasks",
    "shard_of",
    "write_partitioned",
]


def hash_partition(keys: np.ndarray, num_partitions: int) -> np.ndarray:
    """The partition (0..num_partitions-1) of each integer key, by a splitmix64 hash of the key."""
    h = keys.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return (h % np.uint64(num_partitions)).astype(np.int64)


def part_paths(folder: str, count: int) -> list[str]:
    """The ``count`` files ``part-NNNNN.arrow`` of ``folder``: tasks name a set of shuffle files by
    folder and count, so a task's arguments stay small however many files there are."""
    return [storage.join(folder, f"part-{i:05d}.arrow") for i in range(count)]


def shard_of(gids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The shard of each global row id, for shard start ``offsets`` (length shards + 1)."""
    return np.searchsorted(offsets, gids, side="right").astype(np.int64) - 1


def atomic_json(path: str, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` (a local path or URL) atomically."""
    storage.write_json(path, obj)


def _to_arrow(col: np.ndarray) -> Any:
    import pyarrow as pa

    if col.dtype == object:
        return pa.array(col.tolist(), type=pa.string())
    if col.ndim == 2:  # fixed-width rows (signatures) as fixed-size lists
        return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(col).ravel()), col.shape[1])
    return pa.array(col)


def write_partitioned(
    path: str, columns: dict[str, np.ndarray], partition: np.ndarray, num_partitions: int
) -> list[int]:
    """Write ``columns`` (equal-length arrays; 2-D ones are rows of fixed width) as ``num_partitions``
    record batches, batch ``p`` holding the rows whose ``partition`` is ``p`` in their original order.
    Returns the row count of each batch."""
    import pyarrow as pa

    order = np.argsort(partition, kind="stable")
    counts = np.bincount(partition, minlength=num_partitions) if len(partition) else np.zeros(num_partitions)
    ends = np.cumsum(counts).astype(np.int64)
    table = pa.table({k: _to_arrow(v[order]) for k, v in columns.items()})
    with (
        atomic_path(path) as tmp,
        pa.OSFile(tmp, "wb") as sink,
        pa.ipc.new_file(sink, table.schema) as writer,
    ):
        lo = 0
        for hi in ends.tolist():
            batch = table.slice(lo, hi - lo).combine_chunks().to_batches()
            writer.write_batch(batch[0] if batch else pa.RecordBatch.from_pylist([], schema=table.schema))
            lo = hi
    return [int(c) for c in counts]


def _column(arr: Any) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_fixed_size_list(arr.type):
        width = arr.type.list_size
        return arr.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return np.array(arr.to_pylist(), dtype=object)
    return arr.to_numpy(zero_copy_only=False)


def read_partition(paths: Sequence[str], partition: int, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Batch ``partition`` of every file in ``paths``, concatenated in the order of ``paths``."""
    import pyarrow as pa

    parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    for path in paths:
        with storage.arrow_source(path) as src:
            batch = pa.ipc.open_file(src).get_batch(partition)
            for c in columns:
                parts[c].append(_column(batch.column(c)))
    return {c: np.concatenate(v) if v else np.zeros(0, np.int64) for c, v in parts.items()}


def _marked(fn: Callable[..., dict[str, Any]], marker: str, *args: Any) -> dict[str, Any]:
    result = fn(*args)
    atomic_json(marker, result)
    return result


def run_tasks(
    executor: Any, fn: Callable[..., dict[str, Any]], tasks: Sequence[tuple[Any, ...]], markers: Sequence[str]
) -> list[dict[str, Any]]:
    """Run ``fn(*args)`` for every task not yet done (its marker missing) on ``executor``; each task's
    small summary is written to its marker. Returns every task's summary, in task order."""
    from datamill.pipeline.executors import LocalExecutor

    results: list[dict[str, Any] | None] = [None] * len(tasks)
    todo: list[tuple[Any, ...]] = []
    index: list[int] = []
    for i, (args, marker) in enumerate(zip(tasks, markers, strict=True)):
        if storage.exists(marker):
            results[i] = storage.read_json(marker)
        else:
            todo.append((fn, marker, *args))
            index.append(i)

    def done(i: int, result: dict[str, Any]) -> None:
        results[index[i]] = result

    if todo:
        (executor or LocalExecutor(1)).map(_marked, todo, done)
    return [r or {} for r in results]

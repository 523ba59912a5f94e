"""Run one generation step over files: read records, generate, write the output atomically.

This is what the ``datamill synthetic respond|self-instruct|qa|judge`` shortcuts call. The request
cache is written as answers arrive, so a killed run is resumed by running the same command again:
finished requests come from the cache, the output file appears whole when the run completes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from datamill.errors import ConfigError
from datamill.io._files import remove_stale_temp
from datamill.pipeline.stats import StepStats
from datamill.records import Record
from datamill.synthetic.engine import Usage
from datamill.synthetic.tasks import SelfInstruct, TeacherStep, load_seed_tasks

__all__ = ["TaskRun", "default_rejects", "run_step"]

_SUFFIXES = (".jsonl.gz", ".jsonl.zst", ".jsonl", ".parquet")


@dataclass
class TaskRun:
    """What a step run produced: where, how many records in and out, per-step stats, teacher usage."""

    output: str
    records_in: int
    records_out: int
    stats: StepStats
    usage: Usage
    quarantined: dict[str, int] = field(default_factory=dict)
    rejects: str | None = None
    rejected: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "records_in": self.records_in,
            "records_out": self.records_out,
            "step": self.stats.to_dict(),
            "usage": self.usage.to_dict(),
            "quarantined": self.quarantined,
            "rejects": self.rejects,
            "rejected": self.rejected,
        }


def default_rejects(output: str | os.PathLike[str]) -> str:
    """Where :func:`run_step` puts the answers given up with ``rejects="default"``: ``OUT.rejects.jsonl``
    beside ``output`` (``o.jsonl.gz`` -> ``o.rejects.jsonl``)."""
    out = os.fspath(output)
    head, name = os.path.split(out)
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return os.path.join(head, name + ".rejects.jsonl")


def run_step(
    step: TeacherStep,
    inputs: str | os.PathLike[str] | list[str],
    output: str | os.PathLike[str],
    *,
    text_field: str = "prompt",
    on_error: str = "raise",
    quarantine: str | None = None,
    rejects: str | os.PathLike[str] | None = None,
) -> TaskRun:
    """Stream ``inputs`` (JSONL/Parquet; plain rows use ``text_field``) through ``step`` into ``output``.

    A :class:`SelfInstruct` step reads its inputs as Self-Instruct seed-task files
    (:func:`load_seed_tasks`). Malformed input rows go to ``quarantine``; teacher answers given up
    (invalid past the re-asks, or teacher errors) go to ``rejects`` (``"default"``:
    :func:`default_rejects`; rewritten by each run, so a rerun does not repeat entries).
    """
    from datamill.io import read_records, write_records
    from datamill.io.quarantine import Quarantine

    if not isinstance(step, TeacherStep):
        raise ConfigError(f"run_step needs a synthetic step, got {step!r}")
    out = os.fspath(output)
    remove_stale_temp(out)
    if rejects is not None:
        step.rejects = default_rejects(out) if rejects == "default" else os.fspath(rejects)
    if step.rejects is not None and os.path.exists(step.rejects):
        os.remove(step.rejects)
    q = Quarantine(quarantine)
    seen = 0
    paths = [os.fspath(inputs)] if isinstance(inputs, str | os.PathLike) else [os.fspath(p) for p in inputs]

    def read() -> Iterator[Record]:
        if isinstance(
            step, SelfInstruct
        ):  # seed tasks have their own shape (id, name, instruction, instances)
            for path in paths:
                yield from load_seed_tasks(path)
        else:
            yield from read_records(paths, text_field=text_field, on_error=on_error, quarantine=q)  # type: ignore[arg-type]

    def counted() -> Iterator[Record]:
        nonlocal seen
        for rec in read():
            seen += 1
            yield rec

    try:
        n = write_records(step(counted()), out)
    finally:
        q.close()
    rejected = 0
    if step.rejects is not None and os.path.exists(step.rejects):
        with open(step.rejects, "rb") as fh:
            rejected = sum(1 for _ in fh)
    return TaskRun(
        output=out,
        records_in=seen,
        records_out=n,
        stats=step.stats,
        usage=step.usage,
        quarantined=dict(q.counts),
        rejects=step.rejects if rejected else None,
        rejected=rejected,
    )

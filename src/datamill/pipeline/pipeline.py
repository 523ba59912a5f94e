"""A pipeline: reader -> steps -> writer over shards, resumable, with a manifest.

Global steps (dedup across shards) split the steps into stages. Each stage runs every shard
through its steps; a stage that ends in a global step stores its shards under
``<output>/.datamill/work`` and the global step's ``reduce`` runs once before the next stage.
Each finished shard leaves a completion marker, so rerunning a killed job skips finished shards and
gives byte-identical output. The output may be a local folder or a URL (``s3://bucket/run``): the data,
the markers, the work files and the manifest all live there, on storage every node can reach.
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from datamill.errors import ConfigError
from datamill.io import storage
from datamill.io.jsonl import JsonlWriter, iter_jsonl
from datamill.io.quarantine import ErrorPolicy, Quarantine
from datamill.pipeline.executors import Executor, make_executor
from datamill.pipeline.io import Reader, Writer
from datamill.pipeline.registry import build
from datamill.pipeline.stats import StepStats
from datamill.pipeline.step import GlobalStep, Step
from datamill.records import Record

__all__ = ["Pipeline", "RunResult"]

_STATE = ".datamill"


@dataclass
class RunResult:
    """What a run produced: output folder, files, counts, per-step stats and the manifest."""

    output: str
    files: list[str]
    records_in: int
    records_out: int
    quarantined: dict[str, int]
    steps: list[StepStats]
    manifest: dict[str, Any] = field(repr=False)
    skipped_shards: int = 0

    @property
    def manifest_path(self) -> str:
        return storage.join(self.output, "manifest.json")


class Pipeline:
    """Steps between a reader and a writer. Call it on records for in-memory use, or :meth:`run` it."""

    def __init__(
        self, steps: list[Step], *, reader: Reader | None = None, writer: Writer | None = None
    ) -> None:
        for s in steps:
            if not isinstance(s, Step):
                raise ConfigError(f"pipeline steps must be Step objects, got {s!r}")
        self.steps = list(steps)
        self.reader = reader
        self.writer = writer or Writer()

    # -- in memory --------------------------------------------------------------------------
    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        """Stream ``records`` through every step in this process (global steps use their in-memory form)."""
        it: Iterable[Record] = records
        for step in self.steps:
            it = step(it)
        return iter(it)

    # -- config ------------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        if self.reader is None:
            raise ConfigError("a pipeline needs a reader to be written as a recipe")
        return {
            "reader": self.reader.to_config(),
            "steps": [s.to_config() for s in self.steps],
            "writer": self.writer.to_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Pipeline:
        if not isinstance(config, dict) or "reader" not in config:
            raise ConfigError("a pipeline config needs 'reader', 'steps' and optionally 'writer'")
        steps_cfg = config.get("steps") or []
        if not isinstance(steps_cfg, list):
            raise ConfigError("'steps' must be a list")
        return cls(
            [build(s, kind="step") for s in steps_cfg],  # type: ignore[misc]
            reader=build(config["reader"], kind="reader"),  # type: ignore[arg-type]
            writer=build(config.get("writer") or {"type": "write"}, kind="writer"),  # type: ignore[arg-type]
        )

    def stages(self) -> list[tuple[list[Step], GlobalStep | None]]:
        """The steps split at global steps: ``[(shard-local steps, global step or None), ...]``."""
        out: list[tuple[list[Step], GlobalStep | None]] = []
        cur: list[Step] = []
        for s in self.steps:
            if isinstance(s, GlobalStep):
                out.append((cur, s))
                cur = []
            else:
                cur.append(s)
        out.append((cur, None))
        return out

    # -- running -----------------------------------------------------------------------------
    def run(
        self,
        output: str | os.PathLike[str],
        *,
        executor: str | Executor = "local",
        workers: int | None = None,
        progress: bool = False,
        overwrite: bool = False,
    ) -> RunResult:
        """Run over every shard of the reader into ``output`` (a folder or a URL such as
        ``s3://bucket/run``); resumes a killed run in the same place."""
        if self.reader is None:
            raise ConfigError("Pipeline.run needs a reader")
        out = os.fspath(output)
        out = storage.local_path(out) if storage.is_local(out) else out.rstrip("/")
        config = self.to_config()
        ex = make_executor(executor, workers=workers)
        _check_shared(out, ex)
        shards = self.reader.shards()
        _claim_output(out, config, shards, overwrite=overwrite)
        stages = self.stages()
        t0 = time.time()
        stage_times: list[float] = []
        reduce_info: list[dict[str, Any]] = []
        skipped = 0
        bar = _Progress(progress)
        try:
            for k, (_, glob) in enumerate(stages):
                ts = time.time()
                finished = set(storage.listdir(_done(out)))
                todo = [
                    (config, out, k, i, shard)
                    for i, shard in enumerate(shards)
                    if os.path.basename(_marker(out, k, i)) not in finished
                ]
                skipped += len(shards) - len(todo)
                label = f"stage {k + 1}/{len(stages)}" + (f" → {glob.name}" if glob else "")
                bar.start(label, total=len(shards), done=len(shards) - len(todo))
                ex.map(_run_shard, todo, lambda _i, _r: bar.advance())
                if glob is not None:
                    reduce_info.append(_reduce(out, k, glob, len(shards), ex))
                stage_times.append(time.time() - ts)
        finally:
            bar.stop()
            ex.close()
        manifest = _write_manifest(
            out, config, shards, stages, ex, stage_times, reduce_info, time.time() - t0
        )
        storage.rmtree(_work(out))
        steps = [StepStats.from_dict(d) for d in manifest["steps"]]
        return RunResult(
            output=out,
            files=manifest["output"]["files"],
            records_in=manifest["records_in"],
            records_out=manifest["output"]["records"],
            quarantined=manifest["quarantine"]["by_kind"],
            steps=steps,
            manifest=manifest,
            skipped_shards=skipped,
        )


# -- shard tasks (top level so process pools and Ray can ship them) ------------------------------


def _check_shared(out: str, ex: Executor) -> None:
    """``memory://`` lives in one process: refuse it when shards would run in other processes."""
    if storage.protocol(out) == "memory" and (ex.kind != "local" or ex.workers > 1):
        raise ConfigError(
            f"{out}: memory:// storage is this process's own; run it with executor='local', workers=1 "
            "(or write to a folder or s3:// that every worker reaches)",
            params="workers",
        )


def _state(out: str) -> str:
    return storage.join(out, _STATE)


def _work(out: str) -> str:
    return storage.join(_state(out), "work")


def _done(out: str) -> str:
    return storage.join(_state(out), "done")


def _marker(out: str, stage: int, shard: int) -> str:
    return storage.join(_done(out), f"s{stage}-{shard:05d}.json")


def _stage_file(out: str, stage: int, shard: int) -> str:
    return storage.join(_work(out), f"s{stage}", f"part-{shard:05d}.jsonl.zst")


def _global_dir(out: str, stage: int) -> str:
    d = storage.join(_work(out), f"g{stage}")
    storage.makedirs(d)
    return d


def _run_shard(config: dict[str, Any], out: str, stage: int, shard_index: int, shard: str) -> dict[str, Any]:
    """Run one shard through one stage; write its output and then its completion marker."""
    t0 = time.time()
    pipe = Pipeline.from_config(config)
    stages = pipe.stages()
    steps, glob = stages[stage]
    assert pipe.reader is not None
    qpath = storage.join(out, "quarantine", f"part-{shard_index:05d}.jsonl")
    # quarantined rows are appended to a local file, moved next to the output once the shard is done
    qtmp = qpath + ".tmp" if storage.is_local(qpath) else storage.remote_temp(qpath)
    quarantine = Quarantine(qtmp) if stage == 0 else None
    if quarantine is not None and os.path.exists(qtmp):
        os.remove(qtmp)
    counted: list[Step] = []
    records_in = 0

    def count(it: Iterable[Record]) -> Iterator[Record]:
        nonlocal records_in
        for rec in it:
            records_in += 1
            yield rec

    if stage == 0:
        policy = ErrorPolicy(pipe.reader.on_error, quarantine)
        it: Iterable[Record] = count(pipe.reader.read_shard(shard, policy))
    else:
        prev = stages[stage - 1][1]
        assert prev is not None
        # every record dropped: the stage file has no lines
        empty = storage.read_json(_marker(out, stage - 1, shard_index))["records_out"] == 0
        rows = (
            iter(())
            if empty
            else (Record.from_dict(obj) for _, _, obj in iter_jsonl(_stage_file(out, stage - 1, shard_index)))
        )
        it = prev.apply(count(rows), shard=shard_index, workdir=_global_dir(out, stage - 1))
        counted.append(prev)
    for step in steps:
        it = step(it)
        counted.append(step)
    if glob is not None:
        it = glob.collect(it, shard=shard_index, workdir=_global_dir(out, stage))
        target = _stage_file(out, stage, shard_index)
        writer: Any = JsonlWriter(target)
    else:
        rel = f"data/part-{shard_index:05d}{pipe.writer.suffix}"
        target = storage.join(out, *rel.split("/"))
        writer = pipe.writer.open(target)
    n_out = 0
    try:
        for rec in it:
            writer.write(rec)
            n_out += 1
    except BaseException:
        writer.abort()
        raise
    writer.close()
    qcounts: dict[str, int] = {}
    if quarantine is not None:
        quarantine.close()
        qcounts = dict(quarantine.counts)
        if quarantine.total:
            storage.upload(qtmp, qpath)
        elif os.path.exists(qtmp):
            os.remove(qtmp)
    result = {
        "stage": stage,
        "shard": shard_index,
        "input": shard,
        "records_in": records_in,
        "records_out": n_out,
        "output": rel if glob is None else None,
        "steps": [s.stats.to_dict() for s in counted],
        "quarantine": qcounts,
        "seconds": round(time.time() - t0, 4),
    }
    storage.write_json(_marker(out, stage, shard_index), result)
    return result


def _reduce(out: str, stage: int, glob: GlobalStep, num_shards: int, ex: Executor) -> dict[str, Any]:
    marker = storage.join(_done(out), f"reduce-g{stage}.json")
    if storage.exists(marker):
        return storage.read_json(marker)  # type: ignore[no-any-return]
    t0 = time.time()
    # a reduce that declares ``executor`` gets it, to shuffle on Ray when the run uses Ray
    kw: dict[str, Any] = {"executor": ex} if "executor" in inspect.signature(glob.reduce).parameters else {}
    info = {
        "step": glob.name,
        **glob.reduce(workdir=_global_dir(out, stage), num_shards=num_shards, **kw),
        "seconds": round(time.time() - t0, 4),
    }
    storage.write_json(marker, info)
    return info


# -- output folder bookkeeping --------------------------------------------------------------------


def _claim_output(out: str, config: dict[str, Any], shards: list[str], *, overwrite: bool) -> None:
    """Make sure ``out`` is empty, or holds an unfinished run of this same pipeline (then resume)."""
    state = _state(out)
    cfg_path = storage.join(state, "run.json")
    me = {"pipeline": config, "shards": shards}
    if storage.exists(cfg_path):
        prev = storage.read_json(cfg_path)
        if prev == json.loads(json.dumps(me)):
            return
        if not overwrite:
            raise ConfigError(
                f"{out} holds the output of a different pipeline or input; "
                "use another folder or overwrite=True",
                params="overwrite",
            )
    elif storage.listdir(out) and not overwrite:
        raise ConfigError(
            f"{out} is not empty and holds no datamill run; use another folder or overwrite=True",
            params="overwrite",
        )
    if overwrite:
        for sub in (state, storage.join(out, "data"), storage.join(out, "quarantine")):
            storage.rmtree(sub)
    storage.makedirs(state)
    storage.write_json(cfg_path, me, indent=1)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("datamill", "pyarrow", "numpy", "orjson", "ray", "datasets"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def _write_manifest(
    out: str,
    config: dict[str, Any],
    shards: list[str],
    stages: list[tuple[list[Step], GlobalStep | None]],
    ex: Executor,
    stage_times: list[float],
    reduce_info: list[dict[str, Any]],
    seconds: float,
) -> dict[str, Any]:
    results = [storage.read_json(_marker(out, k, i)) for k in range(len(stages)) for i in range(len(shards))]
    merged: dict[str, StepStats] = {}
    order: list[str] = []
    for r in results:
        for d in r["steps"]:
            key = d["name"]
            if key not in merged:
                merged[key] = StepStats(key)
                order.append(key)
            merged[key].merge(StepStats.from_dict(d))
    step_names = [s.name or type(s).__name__ for st, g in stages for s in [*st, *([g] if g else [])]]
    order.sort(key=lambda n: step_names.index(n) if n in step_names else len(step_names))
    qtotal: dict[str, int] = {}
    for r in results:
        for kind, n in r["quarantine"].items():
            qtotal[kind] = qtotal.get(kind, 0) + n
    last = [r for r in results if r["stage"] == len(stages) - 1]
    files = sorted(r["output"] for r in last)
    inputs = []
    for s in shards:
        path = s.rpartition("#")[0] if "#" in s else s
        inputs.append({"shard": s, "bytes": storage.getsize(path) if storage.isfile(path) else None})
    manifest = {
        "datamill_manifest": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "pipeline": config,
        "executor": ex.describe(),
        "versions": _versions(),
        "inputs": inputs,
        "records_in": sum(r["records_in"] for r in results if r["stage"] == 0),
        "steps": [merged[n].to_dict() for n in order],
        "global": reduce_info,
        "quarantine": {
            "total": sum(qtotal.values()),
            "by_kind": dict(sorted(qtotal.items())),
            "folder": "quarantine" if qtotal else None,
        },
        "output": {"files": files, "records": sum(r["records_out"] for r in last)},
        "timings": {
            "seconds": round(seconds, 3),
            "stages": [round(t, 3) for t in stage_times],
            "shard_seconds": round(sum(r["seconds"] for r in results), 3),
        },
    }
    storage.write_json(storage.join(out, "manifest.json"), manifest, indent=2)
    return manifest


class _Progress:
    """A Rich progress bar over shards (no-op when disabled)."""

    def __init__(self, enabled: bool) -> None:
        self._p: Any = None
        self._task: Any = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._p = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("shards"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._p.start()

    def start(self, label: str, *, total: int, done: int) -> None:
        if self._p is not None:
            self._task = self._p.add_task(label, total=total, completed=done)

    def advance(self) -> None:
        if self._p is not None and self._task is not None:
            self._p.advance(self._task)

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop()

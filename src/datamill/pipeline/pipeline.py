"""A pipeline: reader -> steps -> writer over shards, resumable, with a manifest.

Global steps (dedup across shards) split the steps into stages. Each stage runs every shard
through its steps; a stage that ends in a global step stores its shards under
``<output>/.datamill/work`` and the global step's ``reduce`` runs once before the next stage.
Each finished shard leaves a completion marker, so rerunning a killed job skips finished shards and
gives byte-identical output.
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from datamill.errors import ConfigError
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
        return os.path.join(self.output, "manifest.json")


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
        """Run over every shard of the reader into ``output``; resumes a killed run in the same folder."""
        if self.reader is None:
            raise ConfigError("Pipeline.run needs a reader")
        out = os.fspath(output)
        config = self.to_config()
        shards = self.reader.shards()
        _claim_output(out, config, shards, overwrite=overwrite)
        ex = make_executor(executor, workers=workers)
        stages = self.stages()
        t0 = time.time()
        stage_times: list[float] = []
        reduce_info: list[dict[str, Any]] = []
        skipped = 0
        bar = _Progress(progress)
        try:
            for k, (_, glob) in enumerate(stages):
                ts = time.time()
                todo = [
                    (config, out, k, i, shard)
                    for i, shard in enumerate(shards)
                    if not os.path.exists(_marker(out, k, i))
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
        if os.path.isdir(_work(out)):
            shutil.rmtree(_work(out))
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


def _state(out: str) -> str:
    return os.path.join(out, _STATE)


def _work(out: str) -> str:
    return os.path.join(_state(out), "work")


def _marker(out: str, stage: int, shard: int) -> str:
    return os.path.join(_state(out), "done", f"s{stage}-{shard:05d}.json")


def _stage_file(out: str, stage: int, shard: int) -> str:
    return os.path.join(_work(out), f"s{stage}", f"part-{shard:05d}.jsonl.zst")


def _global_dir(out: str, stage: int) -> str:
    d = os.path.join(_work(out), f"g{stage}")
    os.makedirs(d, exist_ok=True)
    return d


def _run_shard(config: dict[str, Any], out: str, stage: int, shard_index: int, shard: str) -> dict[str, Any]:
    """Run one shard through one stage; write its output and then its completion marker."""
    t0 = time.time()
    pipe = Pipeline.from_config(config)
    stages = pipe.stages()
    steps, glob = stages[stage]
    assert pipe.reader is not None
    qpath = os.path.join(out, "quarantine", f"part-{shard_index:05d}.jsonl")
    quarantine = Quarantine(qpath + ".tmp") if stage == 0 else None
    if quarantine is not None and os.path.exists(quarantine.path or ""):
        os.remove(quarantine.path)  # type: ignore[arg-type]
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
        with open(_marker(out, stage - 1, shard_index)) as fh:
            empty = json.load(fh)["records_out"] == 0  # every record dropped: the stage file has no lines
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
        target = os.path.join(out, "data", f"part-{shard_index:05d}{pipe.writer.suffix}")
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
            os.replace(quarantine.path, qpath)  # type: ignore[arg-type]
    result = {
        "stage": stage,
        "shard": shard_index,
        "input": shard,
        "records_in": records_in,
        "records_out": n_out,
        "output": os.path.relpath(target, out) if glob is None else None,
        "steps": [s.stats.to_dict() for s in counted],
        "quarantine": qcounts,
        "seconds": round(time.time() - t0, 4),
    }
    marker = _marker(out, stage, shard_index)
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    with open(marker + ".tmp", "w") as fh:
        json.dump(result, fh)
    os.replace(marker + ".tmp", marker)
    return result


def _reduce(out: str, stage: int, glob: GlobalStep, num_shards: int, ex: Executor) -> dict[str, Any]:
    marker = os.path.join(_state(out), "done", f"reduce-g{stage}.json")
    if os.path.exists(marker):
        with open(marker) as fh:
            return json.load(fh)
    t0 = time.time()
    # a reduce that declares ``executor`` gets it, to shuffle on Ray when the run uses Ray
    kw: dict[str, Any] = {"executor": ex} if "executor" in inspect.signature(glob.reduce).parameters else {}
    info = {
        "step": glob.name,
        **glob.reduce(workdir=_global_dir(out, stage), num_shards=num_shards, **kw),
        "seconds": round(time.time() - t0, 4),
    }
    with open(marker + ".tmp", "w") as fh:
        json.dump(info, fh)
    os.replace(marker + ".tmp", marker)
    return info


# -- output folder bookkeeping --------------------------------------------------------------------


def _claim_output(out: str, config: dict[str, Any], shards: list[str], *, overwrite: bool) -> None:
    """Make sure ``out`` is empty, or holds an unfinished run of this same pipeline (then resume)."""
    state = _state(out)
    cfg_path = os.path.join(state, "run.json")
    me = {"pipeline": config, "shards": shards}
    if os.path.exists(cfg_path):
        with open(cfg_path) as fh:
            prev = json.load(fh)
        if prev == json.loads(json.dumps(me)):
            return
        if not overwrite:
            raise ConfigError(
                f"{out} holds the output of a different pipeline or input; "
                "use another folder or overwrite=True",
                params="overwrite",
            )
    elif os.path.isdir(out) and os.listdir(out) and not overwrite:
        raise ConfigError(
            f"{out} is not empty and holds no datamill run; use another folder or overwrite=True",
            params="overwrite",
        )
    if overwrite:
        for sub in (state, os.path.join(out, "data"), os.path.join(out, "quarantine")):
            if os.path.isdir(sub):
                shutil.rmtree(sub)
    os.makedirs(state, exist_ok=True)
    with open(cfg_path + ".tmp", "w") as fh:
        json.dump(me, fh, indent=1)
    os.replace(cfg_path + ".tmp", cfg_path)


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
    results = []
    for k in range(len(stages)):
        for i in range(len(shards)):
            with open(_marker(out, k, i)) as fh:
                results.append(json.load(fh))
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
        inputs.append({"shard": s, "bytes": os.path.getsize(path) if os.path.isfile(path) else None})
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
    with open(os.path.join(out, "manifest.json.tmp"), "w") as fh:
        json.dump(manifest, fh, indent=2)
    os.replace(os.path.join(out, "manifest.json.tmp"), os.path.join(out, "manifest.json"))
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

"""YAML recipes: a whole pipeline run (reader, steps, writer, executor, output) as a file.

    output: out/clean
    executor: local          # or ray
    workers: 2
    reader: {type: read.jsonl, paths: "crawl/*.jsonl.gz", on_error: quarantine}
    steps:
      - {type: filter.length, min_words: 50}
      - {type: dedup.exact}
    writer: {type: write, format: parquet}
    finish:                  # optional: run once over the whole output, in order
      - {type: pretrain.shards, tokens_per_shard: 100000000}
      - {type: pretrain.report}

Relative paths are taken from the current directory. Every CLI pipeline command prints its
recipe with ``--print-recipe``; ``datamill run recipe.yaml`` runs one.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

from datamill.errors import ConfigError
from datamill.pipeline.executors import EXECUTORS
from datamill.pipeline.pipeline import Pipeline, RunResult
from datamill.pipeline.registry import Component, build

__all__ = ["Finisher", "Recipe", "dump_recipe", "load_recipe", "run_finishers", "run_recipe"]

_KEYS = ("output", "executor", "workers", "reader", "steps", "writer", "finish")


class Finisher(Component):
    """Work done once over a finished run's whole output (fixed-size shards, a report).

    Subclasses set ``name`` and ``key`` and implement :meth:`finish`; what it returns is stored in
    the run's manifest under ``key``. A finisher runs again on every (resumed) run: it must rewrite
    its output, not add to it.
    """

    kind = "finisher"
    key: ClassVar[str] = ""

    @abstractmethod
    def finish(self, result: RunResult) -> Any:
        """Work over the finished run's output; the JSON-able result goes in the manifest."""

    def summary(self, value: Any) -> str:
        """One line about what :meth:`finish` returned (for the CLI summary)."""
        if isinstance(value, dict):
            return ", ".join(f"{k} {v}" for k, v in value.items() if isinstance(v, str | int | float))
        return str(value)


@dataclass
class Recipe:
    """A parsed recipe: the pipeline plus where and how to run it."""

    pipeline: Pipeline
    output: str | None = None
    executor: str = "local"
    workers: int | None = None
    finish: list[Finisher] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.output is not None:
            out["output"] = self.output
        out["executor"] = self.executor
        if self.workers is not None:
            out["workers"] = self.workers
        out.update(self.pipeline.to_config())
        if self.finish:
            out["finish"] = [f.to_config() for f in self.finish]
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def run(
        self,
        *,
        output: str | None = None,
        executor: str | None = None,
        workers: int | None = None,
        progress: bool = False,
        overwrite: bool = False,
    ) -> RunResult:
        out = output or self.output
        if not out:
            raise ConfigError("the recipe has no 'output'; pass output=")
        result = self.pipeline.run(
            out,
            executor=executor or self.executor,
            workers=workers or self.workers,
            progress=progress,
            overwrite=overwrite,
        )
        return run_finishers(result, self.finish)


def run_finishers(result: RunResult, finish: list[Finisher]) -> RunResult:
    """Run ``finish`` in order over a finished run; each one's result goes into the manifest under its key
    (on disk too, before the next one runs, so a report sees the shards)."""
    if not finish:
        return result
    result.manifest["finish"] = [f.to_config() for f in finish]
    for f in finish:
        _save_manifest(result)
        result.manifest[f.key] = f.finish(result)
    _save_manifest(result)
    return result


def _save_manifest(result: RunResult) -> None:
    from datamill.io import storage

    storage.write_json(result.manifest_path, result.manifest, indent=2)


def parse_recipe(data: Any, *, source: str = "recipe") -> Recipe:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a recipe must be a mapping with keys {', '.join(_KEYS)}")
    unknown = set(data) - set(_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown recipe keys {sorted(unknown)}; allowed: {', '.join(_KEYS)}")
    executor = data.get("executor", "local")
    if executor not in EXECUTORS:
        raise ConfigError(f"{source}: executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    workers = data.get("workers")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"{source}: workers must be a positive integer, got {workers!r}")
    finish = data.get("finish") or []
    if not isinstance(finish, list):
        raise ConfigError(f"{source}: 'finish' must be a list of finishers, got {finish!r}")
    try:
        pipe = Pipeline.from_config({k: data[k] for k in ("reader", "steps", "writer") if k in data})
        finishers = [build(f, kind="finisher") for f in finish]
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return Recipe(
        pipeline=pipe,
        output=data.get("output"),
        executor=executor,
        workers=workers,
        finish=finishers,  # type: ignore[arg-type]
    )


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read a YAML recipe file; errors name the file and what is wrong."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read recipe: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML: {exc}") from None
    return parse_recipe(data, source=name)


def dump_recipe(
    pipeline: Pipeline,
    *,
    output: str | None = None,
    executor: str = "local",
    workers: int | None = None,
    finish: list[Finisher] | None = None,
) -> str:
    """The YAML recipe that reruns ``pipeline`` (then its ``finish`` steps)."""
    return Recipe(
        pipeline=pipeline, output=output, executor=executor, workers=workers, finish=list(finish or [])
    ).to_yaml()


def run_recipe(
    path: str | os.PathLike[str],
    *,
    output: str | None = None,
    executor: str | None = None,
    workers: int | None = None,
    progress: bool = False,
    overwrite: bool = False,
) -> RunResult:
    """Load and run a recipe file; options override the recipe's own."""
    return load_recipe(path).run(
        output=output, executor=executor, workers=workers, progress=progress, overwrite=overwrite
    )

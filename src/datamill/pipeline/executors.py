"""Executors run shard tasks: ``local`` (a process pool, the default) or ``ray`` (past one machine)."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from datamill.errors import ConfigError, require

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "make_executor"]

EXECUTORS = ("local", "ray")


class Executor(ABC):
    """Runs ``fn(*args)`` for each args tuple, calling ``on_result(index, result)`` as each finishes."""

    kind = "executor"
    workers = 1

    @abstractmethod
    def map(
        self, fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], on_result: Callable[[int, Any], None]
    ) -> None:
        """Run ``fn(*args)`` for each tuple of ``tasks``, telling ``on_result`` as each finishes."""

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "workers": self.workers}

    def close(self) -> None:  # noqa: B027 - an optional hook: nothing to release by default
        """Release resources (pools, clusters) this executor started."""


class LocalExecutor(Executor):
    """Shard tasks in a pool of ``workers`` processes; ``workers=1`` runs them in this process."""

    kind = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers!r}", params="workers")

    def map(self, fn, tasks, on_result) -> None:  # type: ignore[no-untyped-def]
        if self.workers == 1 or len(tasks) <= 1:
            for i, args in enumerate(tasks):
                on_result(i, fn(*args))
            return
        import multiprocessing as mp
        from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

        # fork: workers start in milliseconds and need no importable __main__ (scripts, notebooks, stdin);
        # shard tasks touch no inherited locks or threads.
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=ctx) as pool:
            futures = {pool.submit(fn, *args): i for i, args in enumerate(tasks)}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in done:
                    if fut.exception() is not None:
                        for other in pending:
                            other.cancel()
                        raise fut.exception()  # type: ignore[misc]
                    on_result(futures[fut], fut.result())


class RayExecutor(Executor):
    """Shard tasks as Ray tasks. Starts a local Ray (``num_cpus``) unless ``address`` names a cluster.

    On a cluster the input and output must be on storage every node reaches: a shared file system or
    an object store URL (``s3://bucket/run``); the driver's storage settings (:func:`storage_env`)
    are passed to every task.
    """

    kind = "ray"

    def __init__(self, workers: int | None = None, *, address: str | None = None) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        self.address = address or os.environ.get("RAY_ADDRESS")
        self._started = False

    def _ensure(self):  # noqa: ANN202
        ray = require("ray", extra="ray", purpose="the ray executor")
        if not ray.is_initialized():
            kw: dict[str, Any] = {
                "ignore_reinit_error": True,
                "log_to_driver": False,
                "include_dashboard": False,
            }
            if self.address:
                kw["address"] = self.address
            else:  # a Ray of its own, even when another cluster runs on this machine (no RAY_ADDRESS: local)
                kw.update(address="local", num_cpus=self.workers)
            ray.init(**kw)
            self._started = True
        return ray

    def map(self, fn, tasks, on_result) -> None:  # type: ignore[no-untyped-def]
        ray = self._ensure()
        remote = ray.remote(num_cpus=1, max_retries=2)(fn)
        env = storage_env()
        if env:  # the driver's storage settings travel with the tasks (endpoint, credentials, region)
            remote = remote.options(runtime_env={"env_vars": env})
        refs = {remote.remote(*args): i for i, args in enumerate(tasks)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                on_result(refs[ref], ray.get(ref))

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "workers": self.workers, "address": self.address}

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


# environment variables that point fsspec stores (S3 and S3-compatible servers, GCS, the HF Hub) somewhere
_STORAGE_ENV = ("AWS_", "FSSPEC_", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "HF_")


def storage_env() -> dict[str, str]:
    """The driver's storage settings (``AWS_*``, ``FSSPEC_*``, ``HF_*``, Google credentials) that Ray
    tasks get, so every node reads and writes the same store as the driver."""
    return {k: v for k, v in os.environ.items() if k.startswith(_STORAGE_ENV)}


def make_executor(executor: str | Executor = "local", *, workers: int | None = None) -> Executor:
    """An executor from its name (``local`` or ``ray``) or an Executor instance."""
    if isinstance(executor, Executor):
        return executor
    if executor == "local":
        return LocalExecutor(workers)
    if executor == "ray":
        return RayExecutor(workers)
    raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}", params="executor")

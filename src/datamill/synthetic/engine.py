"""The request engine every task shares: cache lookups, bounded async requests, validation with
re-asks, and accounting (tokens, cost, cache hits, invalid output by reason) with a Rich progress bar.

A task turns records into :class:`Job` objects (messages, API params, an optional ``parse`` that
raises :class:`InvalidOutput`), and :meth:`Runner.run` returns one :class:`Result` per job, in order.
Invalid output (truncated by ``max_tokens``, empty, not JSON, wrong schema) is counted per reason and
re-asked; after ``max_reasks`` it is quarantined (``Result.error`` names the reason), never kept.

A request the teacher fails past its retries (connection refused, HTTP errors) is counted in
``Usage.failed`` and the first cause kept in ``Usage.first_failure``. :meth:`Runner.check_failures`
raises :class:`~datamill.errors.TeacherError` when every request failed, or when more than
``max_failures`` of them did (default 0.5); every generation step calls it after each batch (once
:data:`FAILURE_CHECK_AFTER` requests have been made, so a dead teacher stops a long run early) and
when it finishes (whatever the count).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datamill.errors import ConfigError, InvalidOutput, TeacherError
from datamill.synthetic.cache import RequestCache, request_key
from datamill.synthetic.teachers import Completion, Teacher, run_coroutine
from datamill.synthetic.usage import PRICES, Usage, price_of

__all__ = [
    "FAILURE_CHECK_AFTER",
    "InvalidOutput",
    "Job",
    "PRICES",
    "Result",
    "Runner",
    "Usage",
    "parse_json",
    "price_of",
]

#: requests a run makes before the failure share is checked mid-run (it is always checked at the end)
FAILURE_CHECK_AFTER = 20


def _runs_here(teacher: Any) -> bool:
    """A local model, or a server on this machine: nothing to pay per token."""
    from urllib.parse import urlparse

    url = getattr(teacher, "base_url", None)
    return url is None or urlparse(url).hostname in ("localhost", "127.0.0.1", "::1", "0.0.0.0")


def parse_json(text: str, *, required: Sequence[str] = ()) -> Any:
    """Parse a JSON answer (tolerating a ```json fence); InvalidOutput 'not_json' / 'schema' otherwise."""
    s = text.strip()
    if s.startswith("```"):
        s = s.split("\n", 1)[1] if "\n" in s else s[3:]
        s = s.rsplit("```", 1)[0]
    try:
        data = json.loads(s)
    except ValueError as exc:
        raise InvalidOutput("not_json", str(exc)) from None
    missing = [k for k in required if not isinstance(data, dict) or k not in data]
    if missing:
        raise InvalidOutput("schema", f"missing keys {missing}")
    return data


@dataclass
class Job:
    """One thing to ask: messages, API params, how to parse the answer, and any caller payload."""

    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    parse: Callable[[str], Any] | None = None
    tag: Any = None


@dataclass
class Result:
    """The answer to a job: ``value`` (parsed, or the text), or ``error`` (the reason it was given up)."""

    job: Job
    value: Any = None
    completion: Completion | None = None
    error: str | None = None
    cached: bool = False
    attempts: int = 0
    #: the parameters of the last request (a re-ask may raise ``max_tokens`` or move the ``seed``)
    params: dict[str, Any] | None = None
    #: why earlier answers were re-asked, in order
    reasks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


_REASK_JSON = (
    "Your previous answer could not be used ({reason}). Reply again with only valid JSON, "
    "no prose and no code fences."
)
_REASK_FORMAT = (
    "Your previous answer could not be used ({reason}). Answer again and follow the required "
    "output format exactly."
)


class Runner:
    """Runs jobs against a teacher through the cache, with re-asks, accounting and an optional progress bar.

    Args:
        teacher: the model to ask.
        cache: a :class:`RequestCache`, a path to one, or None for no caching.
        max_reasks: extra attempts for invalid answers (truncated, empty, not JSON, schema).
        prices: extra or overriding ``{model_prefix: (input, output)}`` USD per 1M tokens.
        progress: show a Rich progress bar with throughput, ETA, tokens and cost.
        max_failures: the share of teacher requests (0-1) that may fail past their retries before
            :meth:`check_failures` raises; a run in which every request failed always raises.
    """

    def __init__(
        self,
        teacher: Teacher,
        *,
        cache: RequestCache | str | None = None,
        max_reasks: int = 2,
        prices: dict[str, Sequence[float]] | None = None,
        progress: bool = False,
        max_failures: float = 0.5,
    ) -> None:
        if max_reasks < 0:
            raise ConfigError(f"max_reasks must be >= 0, got {max_reasks!r}")
        if (
            isinstance(max_failures, bool)
            or not isinstance(max_failures, int | float)
            or not 0 <= max_failures <= 1
        ):
            raise ConfigError(f"max_failures must be a share between 0 and 1, got {max_failures!r}")
        self.max_failures = float(max_failures)
        self.teacher = teacher
        self.cache = RequestCache(cache) if isinstance(cache, str) else cache
        self.max_reasks = max_reasks
        local = _runs_here(teacher)
        price = price_of(teacher.model, prices, warn=not local)
        self.price = price if price is not None else (0.0, 0.0)
        self.usage = Usage(model=teacher.model, priced=price is not None or local)
        self._progress: Any = None
        self._task: Any = None
        self._want_progress = progress
        self._inflight: dict[str, asyncio.Future[Completion]] = {}
        self._tokenizer: Any = None
        self._prefetched: dict[str, Completion] = {}

    # -- public --------------------------------------------------------------------------------
    def run(self, jobs: Sequence[Job]) -> list[Result]:
        """Answer every job (cache first); results in job order."""
        if not jobs:
            return []
        self.usage.jobs += len(jobs)
        self._bar_add(len(jobs))
        t0 = time.perf_counter()
        results: list[Result | None] = [None] * len(jobs)
        rest = list(range(len(jobs)))
        if self.cache is not None:  # one query for every first attempt instead of one per job
            keys = [request_key(self.teacher.model, j.messages, dict(j.params)) for j in jobs]
            found = self.cache.get_many(keys)
            rest = []
            for i, job in enumerate(jobs):
                hit = found.get(keys[i])
                res = self._from_cache(job, hit) if hit is not None else None
                if res is None:
                    rest.append(i)
                else:
                    results[i] = res
        if rest:  # the rest asks the teacher (a thread of its own when this thread runs a loop)
            for i, res in zip(rest, run_coroutine(self._arun([jobs[i] for i in rest])), strict=True):
                results[i] = res
        self.usage.seconds += time.perf_counter() - t0
        self.usage.retries = Counter(self.teacher.retries)
        return results  # type: ignore[return-value]

    def check_failures(self, *, final: bool = True) -> None:
        """Raise :class:`TeacherError` (with the first cause) when every teacher request so far failed, or
        more than ``max_failures`` of them; mid-run (``final=False``) only once FAILURE_CHECK_AFTER
        requests have been made. Requests are answers received plus requests given up."""
        u = self.usage
        made = u.requests + u.failed
        if not u.failed or (not final and made < FAILURE_CHECK_AFTER):
            return
        share = u.failed / made
        if u.requests and share <= self.max_failures:
            return
        what = (
            f"every teacher request failed ({u.failed:,})"
            if not u.requests
            else f"{u.failed:,} of {made:,} teacher requests failed ({share:.0%}, more than the allowed "
            f"--max-failures / max_failures {self.max_failures:g})"
        )
        rerun = (
            "; finished answers are cached, rerun to resume" if self.cache is not None and u.requests else ""
        )
        raise TeacherError(f"{what}; first cause: {u.first_failure}{rerun}")

    def _from_cache(self, job: Job, comp: Completion) -> Result | None:
        """A cached first answer that is valid, as a finished Result without the event loop; None otherwise
        (an invalid cached answer takes the async path, which re-asks, from the cache too)."""
        if comp.finish_reason == "length" or not comp.text.strip():
            return None
        try:
            value = job.parse(comp.text) if job.parse else comp.text
        except InvalidOutput:
            return None
        self.usage.cache_hits += 1
        self.usage.done += 1
        self._bar_step()
        return Result(job=job, value=value, completion=comp, cached=True, attempts=1, params=dict(job.params))

    def close(self) -> None:
        """Stop the progress bar (the cache stays open for reuse)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -- internals ------------------------------------------------------------------------------
    def _bar_add(self, n: int) -> None:
        if not self._want_progress:
            return
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} jobs/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[tokens]} tok"),
                TextColumn("${task.fields[cost]}"),
                TextColumn("{task.fields[hits]} cached"),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self.teacher.model, total=0, rate="0.0", tokens="0", cost="0.0000", hits="0"
            )
            self._t0 = time.perf_counter()
        task = self._progress.tasks[0]
        self._progress.update(self._task, total=(task.total or 0) + n)

    def _bar_step(self) -> None:
        u = self.usage
        if self._progress is None:
            return
        el = max(time.perf_counter() - self._t0, 1e-9)
        self._progress.update(
            self._task,
            advance=1,
            rate=f"{u.done / el:,.1f}",
            tokens=f"{u.prompt_tokens + u.completion_tokens:,}",
            cost=f"{u.cost:,.4f}",
            hits=f"{u.cache_hits:,}",
        )

    async def _arun(self, jobs: Sequence[Job]) -> list[Result]:
        if self.cache is not None:  # one query for every first attempt instead of one per job
            self._prefetched = self.cache.get_many(
                [request_key(self.teacher.model, j.messages, dict(j.params)) for j in jobs]
            )
        try:  # the teacher opens its connections on the first request, so a run served from cache opens none
            return list(await asyncio.gather(*(self._one(j) for j in jobs)))
        finally:
            await self.teacher.aclose()
            self._inflight.clear()
            self._prefetched = {}

    def _count_tokens(self, messages: list[dict[str, Any]], comp: Completion) -> tuple[int, int]:
        if comp.prompt_tokens is not None and comp.completion_tokens is not None:
            return comp.prompt_tokens, comp.completion_tokens
        if self._tokenizer is None:
            from datamill.tokens import get_tokenizer

            self._tokenizer = get_tokenizer("cl100k_base")
        p = (
            comp.prompt_tokens
            if comp.prompt_tokens is not None
            else sum(self._tokenizer.count(str(m.get("content") or "")) + 4 for m in messages)
        )
        c = comp.completion_tokens if comp.completion_tokens is not None else self._tokenizer.count(comp.text)
        return p, c

    async def _fetch(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> tuple[Completion, bool]:
        key = request_key(self.teacher.model, messages, params)
        hit = self._prefetched.get(key)
        if hit is not None:
            self.usage.cache_hits += 1
            return hit, True
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.usage.cache_hits += 1
                return hit, True
        if key in self._inflight:  # the same request is already on its way: never pay twice
            return await asyncio.shield(self._inflight[key]), True
        fut: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            comp = await self.teacher.complete(messages, params)
        except TeacherError as exc:
            if self.cache is not None:
                self.cache.put_failure(key, self.teacher.model, str(exc))
            fut.set_exception(exc)
            fut.exception()  # mark retrieved
            raise
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()
            raise
        finally:
            self._inflight.pop(key, None)
        if self.cache is not None:
            self.cache.put(key, self.teacher.model, comp)
        p, c = self._count_tokens(messages, comp)
        u = self.usage
        u.requests += 1
        u.prompt_tokens += p
        u.completion_tokens += c
        u.cost += (p * self.price[0] + c * self.price[1]) / 1e6
        fut.set_result(comp)
        return comp, False

    async def _one(self, job: Job) -> Result:
        messages, params = job.messages, dict(job.params)
        res = Result(job=job)
        reason = detail = ""
        for attempt in range(self.max_reasks + 1):
            res.attempts, res.params = attempt + 1, params
            try:
                comp, cached = await self._fetch(messages, params)
            except TeacherError as exc:
                self.usage.failed += 1
                if self.usage.first_failure is None:
                    self.usage.first_failure = str(exc)
                res.error = "teacher_error"
                res.value = str(exc)
                break
            res.completion, res.cached = comp, cached
            try:
                if comp.finish_reason == "length":
                    raise InvalidOutput("truncated")
                if not comp.text.strip():
                    raise InvalidOutput("empty")
                res.value = job.parse(comp.text) if job.parse else comp.text
                res.error = None
                break
            except InvalidOutput as exc:
                reason, detail = exc.reason, exc.detail
                self.usage.invalid[reason] += 1
                res.error, res.value = reason, None
                res.reasks.append(reason)
            if reason == "truncated":  # ask again with room to finish
                params = {**params, "max_tokens": int(params.get("max_tokens") or 512) * 2}
            elif reason == "empty":
                params = {**params, "seed": int(params.get("seed") or 0) + 1000 + attempt}
            else:
                messages = [
                    *messages,
                    {"role": "assistant", "content": comp.text},
                    {
                        "role": "user",
                        "content": (
                            _REASK_JSON if reason in ("not_json", "schema") else _REASK_FORMAT
                        ).format(reason=f"{reason}: {detail}" if detail else reason),
                    },
                ]
        if res.error is not None and res.error != "teacher_error":
            self.usage.quarantined[res.error] += 1
        if res.error is None or res.error != "teacher_error":
            self.usage.done += 1
        self._bar_step()
        return res

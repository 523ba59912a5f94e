"""The base of the generation tasks: :class:`TeacherStep` (a teacher, a cache, sampling parameters,
batching, rejects and accounting) and the helpers the task families share.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from datamill.errors import ConfigError
from datamill.pipeline.step import Step
from datamill.records import (
    Conversation,
    Document,
    Example,
    Message,
    Preference,
    Provenance,
    Record,
    stable_id,
)
from datamill.synthetic.cache import default_cache_path
from datamill.synthetic.engine import Job, Result, Runner, Usage
from datamill.synthetic.teachers import Teacher, make_teacher

__all__ = [
    "PerRecordTeacherStep",
    "TeacherSpec",
    "TeacherStep",
    "as_records",
    "batched",
    "chat_example",
    "prompt_messages",
    "record_instruction",
    "text_of",
]

TeacherSpec = Teacher | dict[str, Any] | str


def batched(records: Iterable[Any], n: int) -> Iterator[list[Any]]:
    """``records`` in lists of ``n`` (the last one shorter)."""
    batch: list[Any] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def prompt_messages(rec: Any) -> list[dict[str, Any]]:
    """The chat messages a record asks: its messages (without a final answer) or its input/text/prompt."""
    if isinstance(rec, Example):
        if rec.messages:
            msgs = [m.to_dict() for m in rec.messages]
            while msgs and msgs[-1]["role"] == "assistant":
                msgs.pop()
            return msgs
        return [{"role": "user", "content": rec.input or ""}]
    if isinstance(rec, Conversation):
        msgs = [m.to_dict() for m in rec.messages]
        while msgs and msgs[-1]["role"] == "assistant":
            msgs.pop()
        return msgs
    if isinstance(rec, Document):
        return [{"role": "user", "content": rec.text}]
    if isinstance(rec, Preference):
        p = rec.prompt
        return [{"role": "user", "content": p}] if isinstance(p, str) else [m.to_dict() for m in p]
    if isinstance(rec, dict):
        for key in ("prompt", "instruction", "input", "question", "text"):
            if isinstance(rec.get(key), str):
                return [{"role": "user", "content": rec[key]}]
    raise ConfigError(f"cannot find a prompt in record {getattr(rec, 'id', rec)!r}")


def text_of(value: str | list[Message]) -> str:
    """A prompt or answer as plain text: a string as is, messages joined by newlines."""
    if isinstance(value, str):
        return value
    return "\n".join(str(m.content or "") for m in value)


def chat_example(prompt: list[dict[str, Any]], answer: str, **kw: Any) -> Example:
    """An Example holding the chat (``messages``: prompt + assistant answer, as datamill.finetune reads it),
    with ``input``/``output`` set too when the prompt is a single user turn."""
    msgs = [Message.from_dict(m) for m in prompt] + [Message(role="assistant", content=answer)]
    single = len(prompt) == 1 and prompt[0]["role"] == "user" and isinstance(prompt[0].get("content"), str)
    return Example(input=prompt[0]["content"] if single else None, output=answer, messages=msgs, **kw)


class TeacherStep(Step[Record]):
    """Base of the generation steps: a teacher, a cache, sampling params, batching and accounting.

    A subclass implements :meth:`generate`; one whose requests come one record at a time derives from
    :class:`PerRecordTeacherStep` and implements ``jobs`` and ``outputs`` instead.

    Args:
        teacher: a :class:`Teacher`, a spec dict (``{"type": "openai", "base_url": ..., "model": ...}``
            or ``{"type": "transformers", "model": "path"}``), or a local model path.
        cache: SQLite cache path; ``"default"`` is ``$DATAMILL_SYNTHETIC_CACHE`` or
            ``~/.cache/datamill/synthetic.sqlite``; None disables caching.
        temperature, max_tokens, seed: sampling parameters sent with each request.
        batch_size: records sent to the teacher concurrently per batch.
        max_reasks: extra attempts for invalid answers.
        prices: ``{model_prefix: [input, output]}`` USD per 1M tokens, added to the built-in table.
        progress: show a progress bar.
        rejects: a JSONL file that receives every job given up (invalid answer past the re-asks, or a
            teacher error past the retries): record id, reason, the last answer, the request. Appended to.
        max_failures: the share of teacher requests (0-1) that may fail past their retries; above it, or
            when every request failed, the step raises :class:`~datamill.errors.TeacherError` naming the
            first cause (checked after each batch once 20 requests were made, and at the end).
    """

    template: str = ""

    def __init__(
        self,
        *,
        teacher: TeacherSpec,
        cache: str | None = "default",
        temperature: float = 0.7,
        max_tokens: int = 1024,
        seed: int = 0,
        batch_size: int = 256,
        max_reasks: int = 2,
        prices: dict[str, Sequence[float]] | None = None,
        progress: bool = False,
        rejects: str | None = None,
        max_failures: float = 0.5,
    ) -> None:
        self._teacher = make_teacher(teacher)
        if isinstance(teacher, Teacher):  # keep the recipe serialisable
            self._params["teacher"] = teacher.spec()
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size!r}")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens!r}", params="max_tokens")
        self.cache_path = default_cache_path() if cache == "default" else cache
        self.temperature, self.max_tokens, self.seed = temperature, max_tokens, seed
        self.batch_size, self.max_reasks, self.prices, self.progress = (
            batch_size,
            max_reasks,
            prices,
            progress,
        )
        self.rejects = rejects
        if (
            isinstance(max_failures, bool)
            or not isinstance(max_failures, int | float)
            or not 0 <= max_failures <= 1
        ):
            raise ConfigError(f"max_failures must be a share between 0 and 1, got {max_failures!r}")
        self.max_failures = max_failures
        self._runner: Runner | None = None
        self._rejects_fd: int | None = None

    @property
    def teacher(self) -> Teacher:
        return self._teacher

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            self._runner = Runner(
                self._teacher,
                cache=self.cache_path,
                max_reasks=self.max_reasks,
                prices=self.prices,
                progress=self.progress,
                max_failures=self.max_failures,
            )
        return self._runner

    @property
    def usage(self) -> Usage:
        """Tokens, cost, cache hits and invalid answers of this step so far."""
        return self.runner.usage

    def params_for(self, seed_offset: int = 0, **extra: Any) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed + seed_offset,
            **extra,
        }

    def provenance(
        self,
        parents: Sequence[Record],
        sent: dict[str, Any] | Result,
        template: str | None = None,
        **extra: Any,
    ) -> Provenance:
        """Teacher model, prompt template hash, the parameters and seed of the answer kept, parent ids.

        ``sent`` is a Result (its last request's parameters, and the re-asks that led to it) or params.
        """
        base = parents[0].provenance if parents else Provenance()
        if isinstance(sent, Result):
            params = sent.params if sent.params is not None else sent.job.params
            if sent.reasks:
                extra = {"reasks": sent.reasks, **extra}
        else:
            params = sent
        info = {
            "template_hash": stable_id(template if template is not None else self.template),
            "params": params,
            "seed": params.get("seed"),
            **extra,
        }
        return base.child(
            step=self.name, parents=[p.id for p in parents], model=self._teacher.model, extra=info
        )

    def run_jobs(self, jobs: list[Job]) -> list[Result]:
        """Answer ``jobs``; stops the run (TeacherError) when too many teacher requests have failed."""
        results = self.runner.run(jobs)
        self.runner.check_failures(final=False)
        return results

    def reject(self, rec: Record | None, res: Result) -> None:
        """Count a job given up under its reason and, with ``rejects`` set, write it there (never kept)."""
        reason = res.error or "failed"
        self.stats.drop(reason, rec)
        if self.rejects is None:
            return
        comp = res.completion
        entry = {
            "step": self.name,
            "record_id": rec.id if rec is not None else None,
            "reason": reason,
            "attempts": res.attempts,
            "retried_next_run": reason == "teacher_error",
            "answer": (comp.text[:4096] if comp is not None else None),
            "finish_reason": comp.finish_reason if comp is not None else None,
            "error": res.value if reason == "teacher_error" else None,
            "model": self._teacher.model,
            "messages": res.job.messages,
            "params": res.params if res.params is not None else res.job.params,
            "reasks": res.reasks,
        }
        if self._rejects_fd is None:
            os.makedirs(os.path.dirname(os.path.abspath(self.rejects)), exist_ok=True)
            self._rejects_fd = os.open(self.rejects, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        # one write per line on an O_APPEND descriptor: shards in other processes may append too
        os.write(self._rejects_fd, orjson.dumps(entry, default=str) + b"\n")

    def _finish(self) -> None:
        if self._rejects_fd is not None:
            os.close(self._rejects_fd)
            self._rejects_fd = None
        u = self.usage
        c = self.stats.counters
        for key, value in (
            ("requests", u.requests),
            ("cache_hits", u.cache_hits),
            ("prompt_tokens", u.prompt_tokens),
            ("completion_tokens", u.completion_tokens),
            ("failed", u.failed),
            ("cost_microusd", round(u.cost * 1e6)),
        ):
            c[key] = value
        for reason, n in u.invalid.items():
            c[f"invalid_{reason}"] = n
        self.stats.seconds = u.seconds
        self.runner.close()

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        """Generate from ``records`` (:meth:`generate`), then check the teacher failure share and
        write the accounting into the step's stats, whatever happened."""
        try:
            yield from self.generate(records)
            self.runner.check_failures(final=True)
        finally:
            self._finish()

    @abstractmethod
    def generate(self, records: Iterable[Record]) -> Iterator[Record]:
        """The records made from ``records``: the teacher asked through :meth:`run_jobs`, jobs given up
        passed to :meth:`reject`, seen/kept/dropped counted into :attr:`stats`."""


class PerRecordTeacherStep(TeacherStep):
    """A generation step whose requests come one record at a time: :meth:`jobs` of each record,
    answered in batches of ``batch_size``, each record's results handed to :meth:`outputs`."""

    @abstractmethod
    def jobs(self, rec: Record) -> list[Job]:
        """The requests made for ``rec`` (none skips it)."""

    @abstractmethod
    def outputs(self, rec: Record, results: list[Result]) -> Iterator[Record | str]:
        """Records made from ``rec``'s results; a yielded string is a drop reason to count."""

    def generate(self, records: Iterable[Record]) -> Iterator[Record]:
        st = self.stats
        for batch in batched(records, self.batch_size):
            per = [self.jobs(rec) for rec in batch]
            results = self.run_jobs([j for js in per for j in js])
            pos = 0
            for rec, js in zip(batch, per, strict=True):
                st.seen += 1
                mine, pos = results[pos : pos + len(js)], pos + len(js)
                for res in mine:
                    if not res.ok:
                        self.reject(rec, res)
                for out in self.outputs(rec, [r for r in mine if r.ok]):
                    if isinstance(out, str):
                        st.drop(out, rec)
                    else:
                        st.kept += 1
                        yield out


def record_instruction(rec: Record) -> str:
    """The instruction a record holds: an Example's input, else its last prompt message."""
    if isinstance(rec, Example) and rec.input is not None:
        return rec.input
    return prompt_messages(rec)[-1]["content"]


def as_records(items: Iterable[Any]) -> list[Record]:
    """Records, strings or prompt dicts (the plain functions' inputs) as records."""
    out: list[Record] = []
    for x in items:
        if isinstance(x, Record):
            out.append(x)
        elif isinstance(x, str):
            out.append(Example(input=x))
        elif isinstance(x, dict):
            out.append(Example(input=prompt_messages(x)[-1]["content"], metadata={"source_row": x}))
        else:
            raise ConfigError(f"expected records, strings or dicts, got {type(x).__name__}")
    return out

"""Fill missing task responses live from teacher models (datamill.synthetic) before an import.

Rows that already carry responses pass through untouched; rows with only a prompt (or chat) get one answer
per sample from each teacher, in teacher order, and record which model wrote each answer in their metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from datamill.errors import ConfigError

__all__ = ["fill_responses", "needs_responses"]

_RESPONSE_KEYS = ("responses", "chosen", "rejected", "response", "output")
# answers a task type needs when one teacher fills a row on its own
_DEFAULT_SAMPLES = {
    "pairwise": 2,
    "ranking": 3,
    "rubric": 1,
    "rewrite": 1,
    "comment": 1,
    "harm": 1,
    "harm-pairwise": 2,
}


def needs_responses(row: Any) -> bool:
    """Whether an import row has a prompt but no responses of its own."""
    return isinstance(row, dict) and not any(k in row for k in _RESPONSE_KEYS)


def _messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = []
    ctx = row.get("messages", row.get("context"))
    if isinstance(ctx, list):
        msgs += [m for m in ctx if isinstance(m, dict)]
    prompt = row.get("prompt", row.get("instruction"))
    if isinstance(prompt, list):
        msgs += [m for m in prompt if isinstance(m, dict)]
    elif isinstance(prompt, str) and prompt:
        msgs.append({"role": "user", "content": prompt})
    while msgs and msgs[-1].get("role") == "assistant":
        msgs.pop()
    return msgs


def fill_responses(
    rows: Iterable[tuple[int, Any]],
    teachers: Any | Sequence[Any],
    *,
    task_type: str = "pairwise",
    samples: int | None = None,
    cache: str | None = "default",
    temperature: float = 0.9,
    max_tokens: int = 1024,
    seed: int = 0,
) -> Iterator[tuple[int, Any]]:
    """``(line, row)`` pairs with teacher answers added as ``responses`` where a row has none.

    Args:
        rows: ``(line_or_row_number, row)`` pairs, as :func:`datamill.feedback.service.iter_task_rows` gives.
        teachers: one teacher or a list: a :class:`~datamill.synthetic.Teacher`, a spec dict
            (``{"type": "openai", "base_url": ..., "model": ...}``) or a local model path.
        task_type: the project's task type; sets how many answers one teacher gives by default.
        samples: answers per teacher and row (default: the task type's need with one teacher, else 1).
        cache: the synthetic request cache (``"default"``, a path, or None).
        temperature, max_tokens, seed: sampling parameters (sample ``i`` uses ``seed + i``).
    """
    from datamill.records import Example, Message
    from datamill.synthetic import Respond

    specs: list[Any] = list(teachers) if isinstance(teachers, (list, tuple)) else [teachers]
    if not specs:
        raise ConfigError("fill_responses needs at least one teacher")
    if task_type not in _DEFAULT_SAMPLES:
        raise ConfigError(f"unknown task type {task_type!r}; allowed: {', '.join(_DEFAULT_SAMPLES)}")
    k = samples if samples is not None else (_DEFAULT_SAMPLES[task_type] if len(specs) == 1 else 1)
    if k < 1:
        raise ConfigError(f"samples must be >= 1, got {k!r}", params="samples")
    steps = [
        Respond(teacher=t, k=k, cache=cache, temperature=temperature, max_tokens=max_tokens, seed=seed)
        for t in specs
    ]
    buffered = list(rows)
    todo: list[Example] = []
    for i, (_line, row) in enumerate(buffered):
        if needs_responses(row):
            msgs = _messages(row)
            if msgs:  # a row without any prompt is left for the importer to report
                todo.append(
                    Example(id=f"row-{i}", messages=[Message.from_dict(m) for m in msgs], metadata={"row": i})
                )
    answers: dict[int, list[tuple[str, str, int]]] = {}
    for step in steps:
        model = step.teacher.spec().get("model", "teacher")
        for ex in step(todo):  # type: ignore[arg-type]
            assert isinstance(ex, Example)
            answers.setdefault(ex.metadata["row"], []).append(
                (str(ex.output), str(model), int(ex.metadata.get("sample", 0)))
            )
    for i, (line, row) in enumerate(buffered):
        got = answers.get(i)
        if got is not None:
            meta = dict(row.get("metadata") or {}) if isinstance(row.get("metadata") or {}, dict) else {}
            meta["response_models"] = [m for _, m, _ in got]
            row = {**row, "responses": [a for a, _, _ in got], "metadata": meta}
        yield line, row

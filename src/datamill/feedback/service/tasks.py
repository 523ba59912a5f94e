"""Task import: rows read from files or datasets, parsed per task type, inserted all or nothing."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from datamill.errors import InputError
from datamill.feedback.db import Database
from datamill.feedback.models import PAIRWISE_TYPES, Task, utcnow
from datamill.feedback.service.projects import get_project
from datamill.feedback.service.values import check_value
from datamill.feedback.textsafe import scrub, text_problem

__all__ = ["add_tasks", "import_tasks", "import_upload", "iter_task_rows", "parse_task_row", "upload_name"]


def _text(v: Any, what: str) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("content"), str):
        return v["content"]
    if isinstance(v, list) and v and all(isinstance(m, dict) for m in v):  # a chat answer: last message
        return _text(v[-1], what)
    raise ValueError(f"{what} must be a string, got {type(v).__name__}")


def _messages(v: Any) -> list[dict[str, str]]:
    out = []
    for i, m in enumerate(v):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ValueError(f"messages[{i}] must be an object with 'role' and 'content'")
        content = m.get("content")
        if not isinstance(content, str):
            content = "" if content is None else str(content)
        out.append({"role": m["role"][:32], "content": content})
    return out


_MIN_RESPONSES = {
    "pairwise": 2,
    "ranking": 2,
    "rubric": 1,
    "rewrite": 1,
    "comment": 0,
    "harm": 1,
    "harm-pairwise": 2,
}


def parse_task_row(project: dict[str, Any], row: Any) -> dict[str, Any]:
    """One task from an imported row; ValueError says what is wrong.

    Accepted: ``{"prompt", "responses": [...]}``, a preference ``{"prompt", "chosen", "rejected"}``, chat context
    as ``messages`` (or a message-list ``prompt``), optional ``id``, ``metadata`` and ``gold`` (a judgement value).
    """
    from datamill.records import stable_id

    if not isinstance(row, dict):
        raise ValueError(f"a task must be a JSON object, got {type(row).__name__}")
    prompt = row.get("prompt", row.get("instruction", ""))
    messages: list[dict[str, str]] = []
    if isinstance(prompt, list):
        messages, prompt = _messages(prompt), ""
    elif prompt is None:
        prompt = ""
    elif not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string or a list of messages, got {type(prompt).__name__}")
    ctx = row.get("messages", row.get("context"))
    if isinstance(ctx, list):
        messages = _messages(ctx) + messages
    if "responses" in row:
        resp = row["responses"]
        if not isinstance(resp, list):
            raise ValueError("responses must be a list")
        responses = [_text(r, f"responses[{i}]") for i, r in enumerate(resp)]
    elif "chosen" in row and "rejected" in row:
        responses = [_text(row["chosen"], "chosen"), _text(row["rejected"], "rejected")]
    elif "response" in row or "output" in row:
        responses = [_text(row.get("response", row.get("output")), "response")]
    else:
        responses = []
    if messages and messages[-1]["role"] == "assistant":
        # a chat transcript (OpenAI fine-tuning rows, `synthetic respond` output) ends with the answer
        # under review: it is the response, not context, so it is never shown twice
        last = messages[-1]["content"]
        if not responses:
            responses, messages = [last], messages[:-1]
        elif last in responses:
            messages = messages[:-1]
    if not prompt and not messages:
        raise ValueError("a task needs a 'prompt' (or 'messages')")
    tt = project["task_type"]
    need = _MIN_RESPONSES[tt]
    pair = tt in PAIRWISE_TYPES
    if len(responses) < need or (pair and len(responses) != 2):
        raise ValueError(
            f"a {tt} task needs {'exactly 2' if pair else f'at least {need}'} responses, got {len(responses)}"
        )
    meta = row.get("metadata") or {}
    if not isinstance(meta, dict):
        raise ValueError("metadata must be an object")
    gold = row.get("gold")
    if gold is not None:
        try:
            gold = check_value(project, len(responses), gold)
        except InputError as exc:
            raise ValueError(f"bad gold answer: {exc}") from None
    ext = row.get("id") or stable_id(prompt, messages, responses)
    if not isinstance(ext, (str, int)) or isinstance(ext, bool):
        raise ValueError("id must be a string")
    task = {
        "external_id": str(ext)[:255],
        "prompt": prompt,
        "messages": messages,
        "responses": responses,
        "meta": scrub(meta),  # a missing score in a Parquet/HF row is NaN: null, as JSON has it
        "gold": gold,
        "is_gold": gold is not None,
    }
    # text neither database can hold the same way (NUL: PostgreSQL refuses it) or no encoder can write
    why = text_problem(
        {k: task[k] for k in ("external_id", "prompt", "messages", "responses", "meta")}, "task"
    )
    if why:
        raise ValueError(why)
    return task


def iter_task_rows(source: Any, *, split: str | None = None) -> Iterator[tuple[int, Any]]:
    """``(line_or_row_number, row)`` from a JSONL(.gz/.zst) file, a Parquet file or an HF dataset (folder/object)."""
    if not isinstance(source, (str, os.PathLike)):
        from datamill.io import iter_hf

        yield from iter_hf(source, split=split)
        return
    path = Path(source)
    if path.is_dir():
        from datamill.io import iter_hf

        yield from iter_hf(path, split=split)
    elif not path.exists():
        raise InputError("no such file", path=str(path))
    elif path.name.endswith(".parquet"):
        from datamill.io import iter_parquet

        yield from iter_parquet(path)
    else:
        from datamill.io import iter_jsonl

        for line, _off, value in iter_jsonl(path):
            yield line, value


def add_tasks(
    db: Database,
    project: int | str,
    rows: Iterable[tuple[int, Any]],
    *,
    source: str = "<request>",
    what: str = "line",
) -> int:
    """Validate every row, then insert all tasks in one transaction (an error imports nothing).

    Raises InputError naming ``source:line`` for a malformed row or a duplicate task id.
    """
    from sqlalchemy import insert, select

    proj = get_project(db, project)
    parsed: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    it = iter(rows)
    while True:
        try:
            line, row = next(it)
        except StopIteration:
            break
        except InputError as exc:  # unreadable line/row: same all-or-nothing message
            # the name the caller knows the source by (an upload's file name, not the server's temp path)
            path = source if source != "<request>" else exc.path
            raise InputError(f"{exc.reason}; nothing imported", path=path, line=exc.line) from None
        try:
            task = parse_task_row(proj, row)
        except ValueError as exc:
            where = f"{what} {line}: " if source == "<request>" or what != "line" else ""
            raise InputError(f"{where}{exc}; nothing imported", path=source, line=line) from None
        if task["external_id"] in seen:
            raise InputError(
                f"{what} {line}: duplicate task id {task['external_id']!r} (first at {what} "
                f"{seen[task['external_id']]}); nothing imported",
                path=source,
                line=line,
            )
        seen[task["external_id"]] = line
        task["project_id"] = proj["id"]
        task["n_assigned"] = 0
        task["created_at"] = utcnow()
        parsed.append(task)
    if not parsed:
        raise InputError("no tasks found; nothing imported", path=source)
    with db.write() as s:
        existing: set[str] = set()
        ids = list(seen)
        for lo in range(0, len(ids), 500):
            existing.update(
                s.scalars(
                    select(Task.external_id).where(
                        Task.project_id == proj["id"], Task.external_id.in_(ids[lo : lo + 500])
                    )
                )
            )
        if existing:
            first = min(existing, key=lambda e: seen[e])
            raise InputError(
                f"{what} {seen[first]}: task id {first!r} is already in project {proj['name']!r}"
                f" ({len(existing)} duplicate(s)); nothing imported",
                path=source,
                line=seen[first],
            )
        for lo in range(0, len(parsed), 1000):
            s.execute(insert(Task), parsed[lo : lo + 1000])
    if not db.is_sqlite:
        # fresh statistics for the queue query: before autovacuum's first ANALYZE, PostgreSQL guesses one
        # task and checks "not mine" against the annotator's whole history for each (measured 5.4 ms vs
        # 0.3 ms per next-task after 300 judgements)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE tasks")
            conn.commit()
    return len(parsed)


def _task_rows(
    db: Database, project: int | str, source: Any, *, split: str | None
) -> Iterator[tuple[int, Any]]:
    """The source's task rows; a public dataset's shape (HH-RLHF, UltraFeedback, SHP, HelpSteer2, Nectar,
    oasst1, Dolly …, told by its first row) is read as fine-tuning records and turned into tasks."""
    from datamill.feedback.sources import is_native_task_row, task_rows_from_records

    rows = iter_task_rows(source, split=split)
    first = next(rows, None)
    if first is None:
        return
    if is_native_task_row(first[1]):
        yield first
        yield from rows
        return
    from datamill.finetune.formats import read_examples

    task_type = get_project(db, project)["task_type"]
    yield from task_rows_from_records(read_examples(source, split=split, keep_ties=True), task_type)


def import_tasks(
    db: Database,
    project: int | str,
    source: Any,
    *,
    split: str | None = None,
    teachers: Any = None,
    samples: int | None = None,
    cache: str | None = "default",
) -> int:
    """Import tasks from a JSONL/Parquet file or HF dataset into a project, all or nothing; returns the count.

    Rows are task rows (see :func:`parse_task_row`) or a public dataset's published shape (preference sets
    become pairwise or ranking tasks with the prompt as context and the final turns as responses; see
    :mod:`datamill.feedback.sources`).

    Args:
        split: the split of an HF DatasetDict.
        teachers: teacher model(s) (see :func:`datamill.feedback.fill.fill_responses`) that answer rows
            having a prompt but no responses, before anything is written.
        samples: answers per teacher and row (default: what the task type needs).
        cache: the synthetic request cache for the teachers.
    """
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "<dataset>"
    is_file = isinstance(source, (str, os.PathLike)) and not Path(source).is_dir()
    what = "line" if is_file and not name.endswith(".parquet") else "row"
    rows: Iterable[tuple[int, Any]] = _task_rows(db, project, source, split=split)
    if teachers is not None:
        from datamill.feedback.fill import fill_responses

        rows = fill_responses(
            rows, teachers, task_type=get_project(db, project)["task_type"], samples=samples, cache=cache
        )
    return add_tasks(db, project, rows, source=name, what=what)


def upload_name(filename: str | None) -> str:
    """A safe file name for an upload kept in a temporary folder: its last path part, with its suffixes kept
    (they tell the format), ``upload.jsonl`` for a name that is none (``.``, ``..``, empty, a NUL, too long)."""
    name = Path((filename or "").replace("\\", "/")).name
    if name in ("", ".", "..") or text_problem(name) or len(name.encode()) > 200:
        suffixes = "".join(
            s for s in Path(scrub(name)).suffixes if s.isascii() and s.isprintable() and len(s) <= 10
        )
        return "upload" + (suffixes or ".jsonl")
    return name


def import_upload(db: Database, project: int | str, filename: str, data: bytes) -> int:
    """Import an uploaded JSONL(.gz/.zst) or Parquet file of task rows or a public dataset's shape (as
    :func:`import_tasks` reads them), all or nothing; returns the count."""
    import tempfile

    name = upload_name(filename)
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / name
        dest.write_bytes(data)
        return add_tasks(
            db,
            project,
            _task_rows(db, project, dest, split=None),
            source=name,
            what="row" if name.endswith(".parquet") else "line",
        )

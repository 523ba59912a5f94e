"""``datamill quickstart``: the end-to-end journey on sample data shipped inside the package.

Offline and on embedded defaults (files, SQLite, a local fake teacher). Each stage prints what it
did and where its output is. :func:`clean_sample` is the small cleaning pipeline of the README.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["run_quickstart", "sample_docs_path", "summary_table"]


def sample_docs_path() -> str:
    """Folder of the shipped sample corpus (4 JSONL.gz shards, 452 documents + 2 malformed lines)."""
    return str(resources.files("datamill") / "data" / "sample_docs")


def clean_sample(
    out: str | os.PathLike[str],
    *,
    executor: str = "local",
    workers: int | None = None,
    progress: bool = False,
):  # noqa: ANN201
    """Read the sample corpus (quarantining malformed lines), drop fragments and exact duplicates,
    write Parquet shards and a manifest. Returns the pipeline's RunResult."""
    from datamill.pipeline import ExactDedup, JsonlReader, LengthFilter, Pipeline, Writer

    pipe = Pipeline(
        [LengthFilter(min_words=8), ExactDedup(normalize=True)],
        reader=JsonlReader(paths=sample_docs_path(), on_error="quarantine"),
        writer=Writer(format="parquet"),
    )
    return pipe.run(out, executor=executor, workers=workers, progress=progress, overwrite=True)


def summary_table(result: Any) -> str:
    """The journey's counts as a plain-text table, outputs relative to its folder: the table in the README,
    written by the quickstart to ``DIR/summary.txt`` (a test checks the two are the same)."""
    root = result.root
    rows = [("stage", "in", "out", "what happened", "output")]
    for s in result.stages:
        where = os.path.relpath(s["where"], root) + ("/" if os.path.isdir(s["where"]) else "")
        rows.append((s["stage"], f"{s['in']:,}", f"{s['out']:,}", s["note"], where))
    width = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        f"{r[0]:<{width[0]}}  {r[1]:>{width[1]}}  {r[2]:>{width[2]}}  {r[3]:<{width[3]}}  {r[4]}".rstrip()
        for r in rows
    ]
    n = len(result.finetune_ids)
    lines.append(f"lineage: {result.lineage_complete}/{n} fine-tune examples trace back to a crawled page")
    return "\n".join(lines) + "\n"


def run_quickstart(
    directory: str | os.PathLike[str] = "datamill-quickstart",
    *,
    executor: str = "local",
    workers: int | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """The full journey on the shipped sample (see :mod:`datamill.journey`); prints each stage's counts,
    where its outputs are, and the lineage check, and writes the counts to ``DIR/summary.txt``.
    Returns the summary."""
    from datamill.journey import run_journey

    console = console or Console()
    console.print("[bold]datamill quickstart: the life of LLM data, from a crawl to a diagnosis[/]")
    result = run_journey(
        directory,
        executor=executor,
        workers=workers,  # None: one per CPU, as --help says
        log=lambda msg: console.print(f"[cyan]{escape(msg)}[/]"),
    )
    table = Table(title=f"datamill quickstart: done in {result.seconds:.0f} s", title_justify="left")
    for col, just in (
        ("stage", "left"),
        ("in", "right"),
        ("out", "right"),
        ("what happened", "left"),
        ("output", "left"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for s in result.stages:
        table.add_row(s["stage"], f"{s['in']:,}", f"{s['out']:,}", escape(s["note"]), escape(s["where"]))
    console.print(table)
    n = len(result.finetune_ids)
    style = "green" if result.lineage_complete == n else "red"
    console.print(
        f"[{style}]lineage: {result.lineage_complete}/{n} fine-tune examples trace back to a crawled page[/]"
    )
    summary = os.path.join(result.root, "summary.txt")
    with open(summary, "w", encoding="utf-8") as fh:
        fh.write(summary_table(result))
    console.print(
        f"summary: {escape(summary)} (the README's table); the offline teacher answered "
        f"{result.requests} requests"
    )
    if result.finetune_ids:
        console.print(f"try: datamill lineage {result.finetune_ids[0]} --in {escape(result.root)}")
    console.print(f"open: {escape(result.stages[-1]['where'])}")
    feedback_db = os.path.join(result.root, "4-feedback", "feedback.db")
    from datamill.feedback.demo import seed_demo

    demo = seed_demo(f"sqlite:///{os.path.abspath(feedback_db)}")  # open projects beside the journey's
    console.print(
        f"annotate: datamill feedback serve --db {escape(feedback_db)}  (projects journey, "
        f"{', '.join(demo['projects'])}; the first visit creates the admin)"
    )
    return {
        "stages": result.stages,
        "seconds": result.seconds,
        "root": result.root,
        "lineage_complete": result.lineage_complete,
        "finetune_examples": n,
        "feedback_db": feedback_db,
        "causes": result.causes,
        "summary": summary,
    }

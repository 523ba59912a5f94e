"""``datamill quickstart``: the end-to-end journey on sample data shipped inside the package.

Offline and on embedded defaults (files, SQLite, a local fake teacher). Each stage prints what it
did and where its output is. :func:`clean_sample` is the small cleaning pipeline of the README.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["run_quickstart", "sample_docs_path"]


def sample_docs_path() -> str:
    """Folder of the shipped sample corpus (4 JSONL.gz shards, 452 documents + 2 malformed lines)."""
    return str(resources.files("datamill") / "data" / "sample_docs")


def clean_sample(out: str | os.PathLike[str], *, executor: str = "local", workers: int | None = None,
                 progress: bool = False):  # noqa: ANN201
    """Read the sample corpus (quarantining malformed lines), drop fragments and exact duplicates,
    write Parquet shards and a manifest. Returns the pipeline's RunResult."""
    from datamill.pipeline import ExactDedup, JsonlReader, LengthFilter, Pipeline, Writer

    pipe = Pipeline(
        [LengthFilter(min_words=8), ExactDedup(normalize=True)],
        reader=JsonlReader(paths=sample_docs_path(), on_error="quarantine"),
        writer=Writer(format="parquet"),
    )
    return pipe.run(out, executor=executor, workers=workers, progress=progress, overwrite=True)


def run_quickstart(directory: str | os.PathLike[str] = "datamill-quickstart", *, executor: str = "local",
                   workers: int | None = None, console: Console | None = None) -> dict[str, Any]:
    """The full journey on the shipped sample (see :mod:`datamill.journey`); prints each stage's counts,
    where its outputs are, and the lineage check. Returns the summary."""
    from datamill.journey import run_journey

    console = console or Console()
    console.rule("[bold]datamill quickstart: the life of LLM data, from a crawl to a diagnosis")
    result = run_journey(directory, workers=workers or 2, log=lambda msg: console.print(f"[cyan]{msg}[/]"))
    table = Table(title=f"datamill quickstart: done in {result.seconds:.0f} s", title_justify="left")
    for col, just in (("stage", "left"), ("in", "right"), ("out", "right"), ("what happened", "left"),
                      ("output", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for s in result.stages:
        table.add_row(s["stage"], f"{s['in']:,}", f"{s['out']:,}", s["note"], s["where"])
    console.print(table)
    n = len(result.finetune_ids)
    style = "green" if result.lineage_complete == n else "red"
    console.print(f"[{style}]lineage: {result.lineage_complete}/{n} fine-tune examples trace back to a crawled page[/]")
    if result.finetune_ids:
        console.print(f"try: datamill lineage {result.finetune_ids[0]} --in {result.root}")
    console.print(f"open: {result.stages[-1]['where']}")
    feedback_db = os.path.join(result.root, "4-feedback", "feedback.db")
    from datamill.feedback.demo import seed_demo

    demo = seed_demo(f"sqlite:///{os.path.abspath(feedback_db)}")  # open projects beside the journey's
    console.print(f"annotate: datamill feedback serve --db {feedback_db}  (projects journey, "
                  f"{', '.join(demo['projects'])}; the first visit creates the admin)")
    return {"stages": result.stages, "seconds": result.seconds, "root": result.root,
            "lineage_complete": result.lineage_complete, "finetune_examples": n, "feedback_db": feedback_db}

"""What every CLI command shares: the console, option types, summary tables, recipe printing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = [
    "ExecutorOpt",
    "OnErrorOpt",
    "PrintRecipeOpt",
    "QuarantineOpt",
    "WorkersOpt",
    "console",
    "err_console",
    "open_quarantine",
    "print_json",
    "print_run_result",
    "report_quarantine",
    "stats_table",
]

console = Console()
err_console = Console(stderr=True)

ExecutorOpt = Annotated[str, typer.Option("--executor", "-x", help="Where shards run: local (process pool) or ray.")]
WorkersOpt = Annotated[int | None, typer.Option("--workers", "-w", help="Parallel workers (default: CPU count).")]
PrintRecipeOpt = Annotated[bool, typer.Option("--print-recipe", help="Print the equivalent YAML recipe and exit.")]
OnErrorOpt = Annotated[str, typer.Option("--on-error", help="raise: stop at the first malformed line, naming it; "
                                                            "quarantine: set it aside (counted) and go on.")]
QuarantineOpt = Annotated[str | None, typer.Option("--quarantine", help="Where quarantined lines go (JSONL; default: "
                                                                         "next to the output, *.quarantine.jsonl).")]


def open_quarantine(on_error: str, path: str | None, *, beside: Any = None) -> Any:
    """The :class:`~datamill.io.Quarantine` for a command: ``path``, or ``<beside>.quarantine.jsonl``
    (``./quarantine.jsonl`` without an output). Checks ``on_error`` first."""
    from datamill.errors import ConfigError
    from datamill.io import Quarantine

    if on_error not in ("raise", "quarantine"):
        raise ConfigError(f"--on-error must be raise or quarantine, got {on_error!r}")
    if on_error == "raise":
        return Quarantine()
    if path is None:
        path = f"{str(beside).rstrip('/')}.quarantine.jsonl" if beside is not None else "quarantine.jsonl"
    return Quarantine(path)


def report_quarantine(q: Any) -> None:
    """One yellow line when anything was quarantined: how many, why, and where they are."""
    q.close()
    if q.total:
        where = f" → {q.path}" if q.path else ""
        kinds = ", ".join(f"{k} {n:,}" for k, n in q.counts.most_common())
        console.print(f"[yellow]quarantined {q.total:,} malformed line(s) ({kinds}){where}[/]")


def print_json(data: Any) -> None:
    import orjson

    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=str).decode())


def stats_table(steps: Iterable[Any], *, title: str = "Steps") -> Table:
    """A table of StepStats: seen, kept, dropped and the top drop reasons."""
    table = Table(title=title, title_justify="left")
    for col, just in (("step", "left"), ("seen", "right"), ("kept", "right"), ("dropped", "right"),
                      ("top reasons", "left"), ("s", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for st in steps:
        reasons = ", ".join(f"{r} {n:,}" for r, n in st.dropped.most_common(3))
        table.add_row(st.name, f"{st.seen:,}", f"{st.kept:,}", f"{st.dropped_total:,}", reasons, f"{st.seconds:.2f}")
    return table


def print_run_result(result: Any, *, title: str = "Run summary") -> None:
    """Render a pipeline RunResult: step table, totals, where the output is."""
    console.print(stats_table(result.steps, title=title))
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("records in", f"{result.records_in:,}")
    table.add_row("records out", f"{result.records_out:,}")
    q = sum(result.quarantined.values())
    table.add_row("quarantined", f"{q:,}" + (f" ({', '.join(f'{k} {v}' for k, v in result.quarantined.items())})"
                                              if q else ""))
    if result.skipped_shards:
        table.add_row("resumed", f"{result.skipped_shards} finished shard task(s) skipped")
    table.add_row("output", f"{result.output}/data ({len(result.files)} files)")
    table.add_row("manifest", result.manifest_path)
    console.print(table)

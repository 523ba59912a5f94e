"""What every CLI command shares: the console, option types, summary tables, error text."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.table import Table

__all__ = [
    "ExecutorOpt",
    "JsonOpt",
    "OUTPUT",
    "OnErrorOpt",
    "OptionBlock",
    "OverwriteOpt",
    "PrintRecipeOpt",
    "ProgressOpt",
    "QuarantineOpt",
    "TextFieldOpt",
    "TokenizerOpt",
    "WorkersOpt",
    "cli_error_text",
    "command_for",
    "console",
    "err_console",
    "open_quarantine",
    "print_json",
    "print_run_result",
    "report_quarantine",
    "stats_table",
]

# Wide enough for any path or name: piped output is read by tools and people, never cut at 80 columns.
_PIPE_WIDTH = 10_000


class _Console(Console):
    """A Rich console that, writing to a pipe or file (and with no ``COLUMNS`` set), does not wrap or
    cut at 80 columns: tables keep their natural width, so full paths and names survive ``| cat``."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and not self.is_terminal and "COLUMNS" not in self._environ:
            return ConsoleDimensions(_PIPE_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console = _Console()
err_console = _Console(stderr=True)

#: How every command spells the option naming what it writes: ``--output``, ``-o``, and ``--out`` (the
#: older spelling of the file-writing commands, kept so scripts keep working).
OUTPUT = ("--output", "--out", "-o")

ExecutorOpt = Annotated[
    str, typer.Option("--executor", "-x", help="Where shards run: local (process pool) or ray.")
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", "-w", help="Parallel workers (default: CPU count).")
]
PrintRecipeOpt = Annotated[
    bool, typer.Option("--print-recipe", help="Print the equivalent YAML recipe and exit.")
]
OnErrorOpt = Annotated[
    str,
    typer.Option(
        "--on-error",
        help="raise: stop at the first malformed line, naming it; "
        "quarantine: set it aside (counted) and go on.",
    ),
]
QuarantineOpt = Annotated[
    str | None,
    typer.Option(
        "--quarantine",
        help="Where quarantined lines go (JSONL; default: next to the output, *.quarantine.jsonl).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing, different run.")]
TokenizerOpt = Annotated[str, typer.Option("--tokenizer", help="tiktoken encoding or tokenizer.json path.")]
TextFieldOpt = Annotated[
    str, typer.Option("--text-field", help="Field holding the text in plain JSON/Parquet rows.")
]

_F = TypeVar("_F", bound=Callable[..., Any])


class OptionBlock:
    """Options several commands share, declared once.

    ``OptionBlock(name=(Annotated type, default), ...)`` used as a decorator under ``@app.command()``
    adds these options after the command's own (before them with ``lead=True``); the command takes
    them in its ``**kwargs``. An option the command declares itself keeps its own default. Blocks
    stack. ``...`` as the default makes the option required.
    """

    def __init__(self, *, lead: bool = False, **options: tuple[Any, Any]) -> None:
        self.options, self.lead = options, lead

    def __call__(self, func: _F) -> _F:
        sig = inspect.signature(func, eval_str=True)
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)  # typer passes every option by name
            for p in sig.parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        if len(own) == len(sig.parameters) and not getattr(func, "_block_options", False):
            raise TypeError(f"{func.__name__} needs **kwargs to take the options of a block")
        names = {p.name for p in own}
        block = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=annotation,
                default=inspect.Parameter.empty if default is ... else default,
            )
            for name, (annotation, default) in self.options.items()
            if name not in names
        ]
        params = block + own if self.lead else own + block

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        # typer reads a command's options from its signature and calls it with them as keywords
        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {
            p.name: p.annotation for p in params if p.annotation is not inspect.Parameter.empty
        }
        command._block_options = True  # type: ignore[attr-defined]  # a block stacked on top may add more
        return command  # type: ignore[return-value]


def command_for(root: Any, argv: Sequence[str]) -> Any:
    """The (sub)command that ``argv`` names under the click group ``root`` (``typer.main.get_command(app)``);
    a group's own flags, like ``--debug``, are skipped."""
    cmd = root
    for word in argv:
        if not hasattr(cmd, "get_command"):
            break
        if word.startswith("-"):
            continue
        sub = cmd.get_command(cmd.context_class(cmd), word)
        if sub is None:
            break
        cmd = sub
    return cmd


def _spellings(command: Any) -> dict[str, tuple[str | None, str | None]]:
    """Parameter name -> (how the command says it / says it true, how it says it false).

    Keys are the command's Python parameter names and its long flags with ``-`` as ``_``
    (``--min-lang-score`` answers to ``min_lang_score``), so a library keyword finds its option whether
    the command kept the name or only the spelling. ``--pii/--no-pii`` says ``pii=False`` too, and a
    lone ``--no-swap`` says ``swap=False``. An argument is its METAVAR.
    """
    out: dict[str, tuple[str | None, str | None]] = {}
    for p in command.params:
        if p.param_type_name == "argument" and p.name:
            out.setdefault(p.name, (p.metavar or p.name.upper(), None))
        if p.param_type_name != "option" or getattr(p, "hidden", False) or not p.opts:
            continue
        flag = next((o for o in p.opts if o.startswith("--")), p.opts[0])
        neg = next((o for o in p.secondary_opts if o.startswith("--")), None)
        for key in [p.name or "", *(o[2:].replace("-", "_") for o in p.opts if o.startswith("--"))]:
            if key:
                out.setdefault(key, (flag, neg))
        if getattr(p, "is_flag", False) and neg is None and flag.startswith("--no-"):
            out.setdefault(flag[5:].replace("-", "_"), (None, flag))
    return out


_EDGE = r"(?<![\w./'\"-])"  # a name starts here: not inside a word, path, quoted value or flag
_KEYWORD = re.compile(_EDGE + r"([A-Za-z_]\w*)=(True|False)?(?![\w'\"\[{(-]|\.\w)")


def cli_error_text(exc: BaseException, command: Any) -> str:
    """``exc``'s message in the command's own terms: Python spellings of its parameters become flags.

    ``overwrite=True`` -> ``--overwrite``, ``pii=False`` -> ``--no-pii``, ``format=`` -> ``--format``,
    and a bare name the error lists in ``params`` (``min_score``) -> the flag (``--min-lang-score``) or
    ARGUMENT. A name the command has no option for stays as it is. Returns plain text (not markup).
    """
    text = str(exc)
    if command is None:
        return text
    names = _spellings(command)

    def keyword(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            return m.group(0)
        on, off = names[m.group(1)]
        said = off if m.group(2) == "False" else on
        return said if said is not None else m.group(0)

    text = _KEYWORD.sub(keyword, text)
    for name in sorted(set(getattr(exc, "params", ())) & names.keys(), key=len, reverse=True):
        on = names[name][0]
        if on is not None:
            text = re.sub(_EDGE + re.escape(name) + r"(?![\w'\"=-])", on.replace("\\", "\\\\"), text)
    return text


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
    where = f" → {q.path}" if q.path else ""
    ties = q.counts.get("no_preference", 0)
    if ties:
        console.print(
            f"[yellow]left out {ties:,} pair(s) with no preference (ties, or one answer to a prompt)"
            f"{escape(where)}[/]"
        )
    if q.total - ties:
        kinds = ", ".join(f"{k} {n:,}" for k, n in q.counts.most_common() if k != "no_preference")
        console.print(
            f"[yellow]quarantined {q.total - ties:,} malformed line(s) ({escape(kinds)}){escape(where)}[/]"
        )


def print_json(data: Any) -> None:
    import orjson

    typer.echo(
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=str).decode()
    )


def stats_table(steps: Iterable[Any], *, title: str = "Steps") -> Table:
    """A table of StepStats: seen, kept, dropped and the top drop reasons."""
    table = Table(title=title, title_justify="left")
    for col, just in (
        ("step", "left"),
        ("seen", "right"),
        ("kept", "right"),
        ("dropped", "right"),
        ("top reasons", "left"),
        ("s", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for st in steps:
        reasons = ", ".join(f"{r} {n:,}" for r, n in st.dropped.most_common(3))
        table.add_row(
            escape(st.name),
            f"{st.seen:,}",
            f"{st.kept:,}",
            f"{st.dropped_total:,}",
            escape(reasons),
            f"{st.seconds:.2f}",
        )
    return table


def print_run_result(result: Any, *, title: str = "Run summary", finish: Iterable[Any] = ()) -> None:
    """Render a pipeline RunResult: step table, totals, what each finisher made, where the output is."""
    console.print(stats_table(result.steps, title=title))
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("records in", f"{result.records_in:,}")
    table.add_row("records out", f"{result.records_out:,}")
    q = sum(result.quarantined.values())
    table.add_row(
        "quarantined",
        f"{q:,}" + (f" ({', '.join(f'{k} {v}' for k, v in result.quarantined.items())})" if q else ""),
    )
    if result.skipped_shards:
        table.add_row("resumed", f"{result.skipped_shards} finished shard task(s) skipped")
    for f in finish:
        if f.key in result.manifest:
            table.add_row(f.key, escape(f.summary(result.manifest[f.key])))
    table.add_row("output", escape(f"{result.output}/data ({len(result.files)} files)"))
    table.add_row("manifest", escape(result.manifest_path))
    console.print(table)

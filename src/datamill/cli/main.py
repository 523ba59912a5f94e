"""The ``datamill`` command: one sub-app per stage, plus run, quickstart and version."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from datamill.cli import diagnose, feedback, finetune, incontext, pretrain, synthetic
from datamill.cli._common import (
    OUTPUT,
    ExecutorOpt,
    JsonOpt,
    OverwriteOpt,
    PrintRecipeOpt,
    WorkersOpt,
    cli_error_text,
    command_for,
    console,
    err_console,
    print_run_result,
)

app = typer.Typer(
    name="datamill",
    help="The data behind large language models: pre-training corpora, human feedback, fine-tuning sets, "
    "in-context/RAG data, synthetic data, and diagnosis of model mistakes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(pretrain.app, name="pretrain")
app.add_typer(feedback.app, name="feedback")
app.add_typer(finetune.app, name="finetune")
app.add_typer(incontext.app, name="incontext")
app.add_typer(synthetic.app, name="synthetic")
app.add_typer(diagnose.app, name="diagnose")


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    """datamill: every stage of LLM data in one toolkit."""


@app.command()
def run(
    path: Annotated[Path, typer.Argument(metavar="RECIPE", help="A YAML recipe file.", exists=False)],
    output: Annotated[str | None, typer.Option(*OUTPUT, help="Output folder (overrides the recipe).")] = None,
    executor: Annotated[
        str | None, typer.Option("--executor", "-x", help="local or ray (overrides the recipe).")
    ] = None,
    workers: WorkersOpt = None,
    overwrite: OverwriteOpt = False,
    print_recipe: PrintRecipeOpt = False,
) -> None:
    """Run a pipeline recipe (resumes a killed run in the same output folder)."""
    from datamill.recipes import load_recipe

    rec = load_recipe(path)
    if print_recipe:
        typer.echo(rec.to_yaml(), nl=False)
        return
    result = rec.run(output=output, executor=executor, workers=workers, progress=True, overwrite=overwrite)
    print_run_result(result, finish=rec.finish)


@app.command()
def quickstart(
    directory: Annotated[Path, typer.Argument(help="Where to write the demo outputs.")] = Path(
        "datamill-quickstart"
    ),
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = None,
) -> None:
    """Run the end-to-end demo on sample data shipped inside datamill (offline, a minute or two)."""
    from datamill.quickstart import run_quickstart

    run_quickstart(directory, executor=executor, workers=workers, console=console)


@app.command()
def lineage(
    record_id: Annotated[str, typer.Argument(help="The id of any record written by datamill.")],
    root: Annotated[
        Path, typer.Option("--root", "--in", help="Folder holding the records (searched recursively).")
    ] = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Show where a record came from: its chain of parents down to the source document."""
    from datamill.cli._common import print_json
    from datamill.lineage import lineage_tree, trace

    chain = trace(record_id, root)
    if json_out:
        print_json(chain.to_dict())
        return
    console.print(lineage_tree(chain))
    console.print("chain complete" if chain.complete() else "[red]chain incomplete: see the red entries[/]")


@app.command()
def version() -> None:
    """Print datamill's version."""
    from datamill import __version__

    typer.echo(__version__)


def _missing_extra_hint(path: list[str]) -> str:
    """For a module missing under ``datamill <stage> ...``: the extra that installs it."""
    from importlib import metadata

    try:
        extras = set(metadata.metadata("datamill").get_all("Provides-Extra") or ())
    except metadata.PackageNotFoundError:
        extras = set()
    stage = path[0] if path else ""
    if stage not in extras:
        return ""
    return f"; datamill {stage} needs its extra: pip install 'datamill[{stage}]'"


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app, turning datamill errors into one red line (in the command's own
    terms: its flags, not Python keywords) and exit code 1."""
    from rich.markup import escape

    from datamill.errors import DatamillError, InputError

    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args

    def command() -> Any:
        try:
            return command_for(typer.main.get_command(app), args)
        except Exception:  # noqa: BLE001 - only the wording depends on it
            return None

    try:
        app(args=args, prog_name="datamill")
    except DatamillError as exc:
        if debug:
            raise
        cmd = command()
        err_console.print(
            f"[bold red]error:[/] {escape(cli_error_text(exc, cmd))}", highlight=False, soft_wrap=True
        )
        options = {o for p in getattr(cmd, "params", ()) for o in getattr(p, "opts", ())}
        if isinstance(exc, InputError) and exc.line is not None and "--on-error" in options:
            err_console.print(
                "  (add --on-error quarantine to set malformed lines aside, counted, and go on)",
                style="dim",
                highlight=False,
            )
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/]")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the one place unexpected errors become a line
        if debug:
            raise
        hint = ""
        if isinstance(exc, ModuleNotFoundError):
            hint = _missing_extra_hint([w for w in args if not w.startswith("-")])
        err_console.print(
            f"[bold red]error:[/] {escape(f'{type(exc).__name__}: {exc}{hint}')} "
            "(rerun with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()

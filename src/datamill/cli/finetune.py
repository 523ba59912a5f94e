"""`datamill finetune`: Fine-tuning sets: formats, validation, token limits, cleaning, splits, dataset cards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from datamill.cli._common import (
    OUTPUT,
    JsonOpt,
    OnErrorOpt,
    OptionBlock,
    QuarantineOpt,
    TokenizerOpt,
    console,
    open_quarantine,
    print_json,
    report_quarantine,
)

app = typer.Typer(
    help="Fine-tuning sets: formats, validation, token limits, cleaning, splits, dataset cards.",
    no_args_is_help=True,
)

FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="Input format (a fine-tuning format or a public "
        "dataset's shape: hh_rlhf, ultrafeedback, shp, "
        "helpsteer2, nectar, dolly, oasst1, chat_text), or "
        "auto to detect it.",
    ),
]

#: How a set's tokens are counted and billed (validate, stats).
TOKENS = OptionBlock(
    format=(FormatOpt, "auto"),
    max_tokens=(Annotated[int, typer.Option("--max-tokens", help="Token limit per example.")], 16385),
    tokenizer=(TokenizerOpt, "cl100k_base"),
    chat_template=(
        Annotated[
            str | None,
            typer.Option("--chat-template", help="HF tokenizer folder whose chat template renders examples."),
        ],
        None,
    ),
    epochs=(
        Annotated[
            int | None, typer.Option("--epochs", help="Epochs for billing (default: OpenAI's choice).")
        ],
        None,
    ),
    price_per_million=(
        Annotated[
            float | None,
            typer.Option(
                "--price-per-million", "--price", help="Price per 1M training tokens, for a cost estimate."
            ),
        ],
        None,
    ),
    json_out=(JsonOpt, False),
)


def _token_table(t) -> Table:  # type: ignore[no-untyped-def]
    table = Table(title=f"tokens ({t.tokenizer})", title_justify="left", show_header=False)
    rows = [
        ("examples", f"{t.examples:,}"),
        ("total", f"{t.total:,}"),
        ("min / mean / max", f"{t.min:,} / {t.mean:,.0f} / {t.max:,}"),
        ("p50 / p90 / p99", f"{t.p50:,.0f} / {t.p90:,.0f} / {t.p99:,.0f}"),
        (f"over {t.max_tokens:,}", f"{t.over_limit:,}"),
        ("epochs", str(t.epochs)),
        ("billed tokens", f"{t.billed_tokens:,}"),
    ]
    if t.cost is not None:
        rows.append(("estimated cost", f"${t.cost:,.2f}"))
    for k, v in rows:
        table.add_row(k, v)
    hist = Table(title="tokens per example", title_justify="left")
    hist.add_column("range")
    hist.add_column("examples", justify="right")
    hist.add_column("")
    peak = max((n for _, _, n in t.histogram), default=1) or 1
    for lo, hi, n in t.histogram:
        hist.add_row(f"{lo:,}–{hi:,}", f"{n:,}", "█" * round(30 * n / peak))
    grid = Table.grid(padding=(0, 4))
    grid.add_row(table, hist)
    return grid


@app.command()
@TOKENS
def validate(
    source: Annotated[Path, typer.Argument(metavar="FILE", help="A JSONL fine-tuning file.")],
    json_out: JsonOpt = False,
    **tokens: Any,
) -> None:
    """Check a file against OpenAI's data-preparation rules and more; exit 1 if any error is found."""
    from datamill.finetune import validate as run

    report = run(source, **tokens)
    if json_out:
        print_json(report.to_dict())
    else:
        table = Table(
            title=f"{report.path}: {report.rows:,} rows, format {report.format}", title_justify="left"
        )
        for col in ("check", "severity", "count", "lines"):
            table.add_column(col, justify="right" if col == "count" else "left")
        for c in report.failed():
            style = "red" if c.severity == "error" else "yellow"
            more = "…" if c.count > len(c.lines) else ""
            table.add_row(
                c.name, f"[{style}]{c.severity}[/]", f"{c.count:,}", ", ".join(map(str, c.lines)) + more
            )
        if report.failed():
            console.print(table)
        if report.tokens:
            console.print(_token_table(report.tokens))
        verdict = "[green]OK[/]" if report.ok else "[red]FAILED[/]"
        console.print(f"{verdict}: {report.errors:,} error(s), {report.warnings:,} warning(s)")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@TOKENS
def stats(
    source: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="A fine-tuning file (JSONL, Parquet, or HF dataset folder)."),
    ],
    json_out: JsonOpt = False,
    **tokens: Any,
) -> None:
    """Token statistics: per-example histogram, examples over the limit, billed tokens and cost."""
    from datamill.finetune import file_token_stats
    from datamill.finetune.files import check_format

    check_format(tokens["format"], "format", auto=True)
    t = file_token_stats(source, **tokens)
    if json_out:
        print_json(t.to_dict())
    else:
        console.print(_token_table(t))


@app.command()
def convert(
    src: Annotated[str, typer.Argument(help="Input file, folder, glob or HF dataset folder.")],
    dst: Annotated[
        Path, typer.Argument(help="Output: .jsonl(.gz/.zst), .parquet, or a folder for HF datasets.")
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Target format: openai, openai_dpo, sharegpt, alpaca, trl_text, "
            "trl_prompt_completion, trl_preference, trl_unpaired_preference, "
            "chat_text (ChatML).",
        ),
    ],
    format: FormatOpt = "auto",  # noqa: A002
    keep_ids: Annotated[
        bool, typer.Option("--keep-ids", help="Add id and provenance columns for lineage.")
    ] = False,
    tree_paths: Annotated[
        str,
        typer.Option(
            "--tree-paths", help="oasst1 trees: top (best-ranked reply at each turn) or all (every path)."
        ),
    ] = "top",
    pair_score: Annotated[
        str,
        typer.Option(
            "--pair-score",
            help="Rated single answers (HelpSteer2) into a preference format: the score to pair on.",
        ),
    ] = "helpfulness",
    on_error: OnErrorOpt = "raise",
    quarantine: QuarantineOpt = None,
) -> None:
    """Convert between fine-tuning formats and from public datasets' shapes (the input format is detected)."""
    from datamill.finetune import convert as run
    from datamill.finetune.files import check_format

    check_format(to, "to")
    check_format(format, "format", auto=True)
    q = open_quarantine(on_error, quarantine, beside=dst)
    result = run(
        src,
        dst,
        to=to,
        format=format,
        keep_ids=keep_ids,
        on_error=on_error,
        quarantine=q,
        tree_paths=tree_paths,
        pair_score=pair_score,
    )
    console.print(f"wrote {result.written:,} {to} rows to {dst}")
    dropped = dict(result.dropped_fields)
    if dropped.pop("rejected", 0):
        console.print(
            f"[yellow]{to} holds one answer per row: each preference pair was written as its prompt "
            "and chosen answer (rejected answers left out)[/]"
        )
    if dropped:
        fields = ", ".join(f"{k} ({n:,})" for k, n in sorted(dropped.items(), key=lambda x: -x[1]))
        console.print(
            f"[yellow]not written (OpenAI rows take only OpenAI's keys): {escape(fields)}; "
            f"--keep-ids keeps them in the datamill column[/]"
        )
    report_quarantine(q)


@app.command()
def card(
    data_dir: Annotated[Path, typer.Argument(help="Folder of <split>.jsonl files (as written by split).")],
    name: Annotated[str, typer.Option("--name")] = "",
    license: Annotated[str, typer.Option("--license")] = "unknown",  # noqa: A002
    sources: Annotated[
        list[str] | None, typer.Option("--source", help="Where the data came from (repeatable).")
    ] = None,
    tokenizer: TokenizerOpt = "cl100k_base",
    output: Annotated[
        Path | None, typer.Option(*OUTPUT, help="Card path (default: DATA_DIR/README.md).")
    ] = None,
) -> None:
    """Write a Hugging Face dataset card (README.md with YAML header) for a split folder: load_dataset(folder) loads it."""
    from datamill.finetune import write_dataset_card

    card = write_dataset_card(
        data_dir, output, name=name, license=license, sources=sources or (), tokenizer=tokenizer
    )
    console.print(f"wrote {card.path} ({sum(card.splits.values()):,} examples, {card.tokens.total:,} tokens)")
    if Path(card.path).parent.resolve() != data_dir.resolve():
        console.print(
            f"[yellow]note:[/] datasets.load_dataset reads the README.md of the folder it loads; this card "
            f"points at the files from {escape(str(Path(card.path).parent))}, not from "
            f"{escape(str(data_dir))}",
            highlight=False,
        )


from datamill.cli import finetune_sets as _sets  # noqa: E402, F401  (clean, decontaminate, split, mix)

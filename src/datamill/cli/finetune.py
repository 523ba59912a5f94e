"""`datamill finetune`: Fine-tuning sets: formats, validation, token limits, cleaning, splits, dataset cards."""

from __future__ import annotations

import re
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
ToOpt = Annotated[str | None, typer.Option("--to", help="Output format (default: the input's).")]
SourceArg = Annotated[str, typer.Argument(metavar="SRC", help="Input fine-tuning file.")]
SeedOpt = Annotated[int, typer.Option("--seed")]

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
            float | None, typer.Option("--price", help="Price per 1M training tokens, for a cost estimate.")
        ],
        None,
    ),
    json_out=(JsonOpt, False),
)
#: How a set is read and written back (clean, decontaminate, split).
READ_WRITE = OptionBlock(
    format=(FormatOpt, "auto"),
    to=(ToOpt, None),
    on_error=(OnErrorOpt, "raise"),
    quarantine=(QuarantineOpt, None),
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


def _check_format(value: str | None, flag: str, *, auto: bool = False) -> None:
    """Refuse an unknown format before reading anything, naming the flag that gave it."""
    from datamill.errors import ConfigError
    from datamill.finetune.formats import FORMATS, WRITABLE

    allowed = ("auto", *FORMATS) if auto else WRITABLE  # --format reads, --to writes
    if value is not None and value not in allowed:
        raise ConfigError(f"{flag} must be one of {', '.join(allowed)}, got {value!r}")


def _output_format(recs: list[Any], to: str | None = None) -> str:
    """``--to``, else the input's format when it can be written, else the closest one (``write_format``),
    saying so: a public dataset's shape (dolly, hh_rlhf, ...) is read, not written."""
    from datamill.finetune.formats import write_format
    from datamill.records import Preference

    if to is not None:
        return to
    fmt = recs[0].metadata.get("format", "openai") if recs else "openai"
    out = write_format(fmt, preference=any(isinstance(r, Preference) for r in recs))
    if out == fmt:
        return fmt
    console.print(
        f"[yellow]note:[/] {escape(fmt)} rows are written as {out} (a public dataset's shape is read, "
        "not written; --to chooses)",
        highlight=False,
    )
    return out


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

    _check_format(tokens["format"], "--format", auto=True)
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

    _check_format(to, "--to")
    _check_format(format, "--format", auto=True)
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


def _read_all(
    source: str,
    format: str = "auto",
    on_error: str = "raise",
    quarantine: str | None = None,  # noqa: A002
    beside: object = None,
    dry_run: bool = False,
    **_: Any,
):  # noqa: ANN202
    from datamill.finetune import read_examples
    from datamill.io import Quarantine

    _check_format(format, "--format", auto=True)
    q = open_quarantine(on_error, quarantine, beside=beside if beside is not None else source)
    if (
        dry_run and q.path is not None
    ):  # a dry run writes nothing: count the malformed lines, say where they would go
        would, q = q.path, Quarantine()
    recs = list(read_examples(source, format=format, on_error=on_error, quarantine=q))
    if dry_run and q.total:
        console.print(
            f"[yellow]would quarantine {q.total:,} malformed line(s) "
            f"({', '.join(f'{k} {n:,}' for k, n in q.counts.most_common())}) → {escape(would)} "
            "(dry run: not written)[/]",
            highlight=False,
        )
    else:
        report_quarantine(q)
    return recs


@app.command()
@READ_WRITE
def clean(
    source: SourceArg,
    output: Annotated[
        Path | None, typer.Option(*OUTPUT, help="Cleaned output file (same format as the input unless --to).")
    ] = None,
    rules: Annotated[
        str | None,
        typer.Option("--rules", help="Comma-separated rules (default: all but semantic_duplicate)."),
    ] = None,
    languages: Annotated[
        str, typer.Option("--languages", help="Wanted languages (ISO 639-1), comma-separated; '' for any.")
    ] = "en",
    near_dup_threshold: Annotated[
        float | None,
        typer.Option(
            "--near-dup-threshold",
            help="Jaccard (minhash, default 0.85) or cosine (embedding, default 0.95).",
        ),
    ] = None,
    near_dup_method: Annotated[
        str,
        typer.Option(
            "--near-dup-method", help="minhash (word 3-grams) or embedding (MiniLM; catches paraphrases)."
        ),
    ] = "minhash",
    semantic_threshold: Annotated[
        float | None,
        typer.Option(
            "--semantic-threshold",
            help="Cosine threshold of the semantic_duplicate rule (SemDeDup; default 0.8).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Only report what would be removed; write nothing (no output, rejects or quarantine file).",
        ),
    ] = False,
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Write removed examples with their rule here (JSONL).")
    ] = None,
    safety_model: Annotated[
        str | None,
        typer.Option(
            "--safety-model", help="Classifier of harmful prompts: their refusals are kept, not removed."
        ),
    ] = None,
    harmful_threshold: Annotated[
        float | None, typer.Option("--harmful-threshold", help="Harm score from which a refusal is kept.")
    ] = None,
    json_out: JsonOpt = False,
    **read: Any,
) -> None:
    """Remove duplicates, refusals, empty/truncated outputs, hallucinated links/images, wrong arithmetic."""
    from datamill.finetune import DEFAULT_RULES, write_examples
    from datamill.finetune import clean as run
    from datamill.io import write_jsonl

    _check_format(read["to"], "--to")
    recs = _read_all(source, beside=output, dry_run=dry_run, **read)
    fmt = _output_format(recs, read["to"])
    result = run(
        recs,
        rules=rules.split(",") if rules else DEFAULT_RULES,
        languages=[x for x in languages.split(",") if x] or None,
        near_dup_threshold=near_dup_threshold,
        near_dup_method=near_dup_method,
        semantic_threshold=semantic_threshold,
        dry_run=dry_run,
    )
    if output is not None and not dry_run:
        write_examples(result.kept, output, format=fmt)
    if rejects is not None and not dry_run:
        write_jsonl(
            (
                {"rule": r, "reason": why, "line": rec.provenance.line, "record": rec.to_dict()}
                for rec, r, why in result.dropped
            ),
            rejects,
        )
    if json_out:
        print_json(result.to_dict())
        return
    table = Table(
        title=f"clean {source}" + (" (dry run: nothing removed)" if dry_run else ""), title_justify="left"
    )
    for col in ("rule", "removed", "example (line: reason)"):
        table.add_column(col)
    for rule, n in sorted(result.counts.items(), key=lambda x: -x[1]):
        ex = result.examples(rule, 1)
        table.add_row(rule, f"{n:,}", f"{ex[0]['line']}: {ex[0]['reason']}"[:80] if ex else "")
    console.print(table)
    if safety_model is not None:
        console.print(
            f"refusals: {result.counts.get('refusal', 0):,} removed, {len(result.kept_refusals):,} kept "
            "(the safety model judged their prompt harmful)",
            highlight=False,
        )
    keep = result.seen - len(result.dropped)
    kept, removed, wrote_ = (
        ("would keep", "would remove", "would write") if dry_run else ("kept", "removed", "wrote")
    )
    wrote = [f"{keep:,} to {output}"] if output is not None else []
    wrote += [f"{len(result.dropped):,} rejects to {rejects}"] if rejects is not None else []
    console.print(
        f"seen {result.seen:,}, {kept} {keep:,}, {removed} {len(result.dropped):,}"
        + (f"; {wrote_} {', '.join(wrote)}" if wrote else "")
        + ("; dry run: nothing written" if dry_run else ""),
        highlight=False,
    )


@app.command()
@READ_WRITE
def decontaminate(
    source: Annotated[str, typer.Argument(metavar="SRC", help="Training file.")],
    eval_texts: Annotated[
        list[str],
        typer.Option(
            "--eval", help="Evaluation file(s) (any fine-tuning format, or JSONL with a text field)."
        ),
    ],
    output: Annotated[
        Path | None, typer.Option(*OUTPUT, help="Write the decontaminated training set here.")
    ] = None,
    ngram: Annotated[int, typer.Option("--ngram")] = 13,
    embedding_threshold: Annotated[
        float | None, typer.Option("--embedding-threshold", help="Also flag cosine >= this (MiniLM).")
    ] = None,
    json_out: JsonOpt = False,
    **read: Any,
) -> None:
    """Drop training examples that overlap evaluation sets (n-grams, optionally embeddings)."""
    from datamill.finetune import decontaminate as run
    from datamill.finetune import write_examples

    _check_format(read["to"], "--to")
    train = _read_all(source, beside=output, **read)
    evals = [r for path in eval_texts for r in _read_all(path)]
    result = run(train, evals, ngram=ngram, embedding_threshold=embedding_threshold)
    if output is not None:
        write_examples(result.kept, output, format=_output_format(train, read["to"]))
    if json_out:
        print_json(result.to_dict())
        return
    console.print(
        f"{len(result.removed):,} of {len(train):,} training examples overlap {len(evals):,} evaluation "
        f"texts" + (f"; wrote {len(result.kept):,} to {output}" if output else "")
    )
    for i, why in list(result.flagged.items())[:10]:
        console.print(f"  line {train[i].provenance.line}: {why}")


@app.command()
@READ_WRITE
def split(
    source: SourceArg,
    output: Annotated[Path, typer.Option(*OUTPUT, help="Folder for <split>.jsonl files.")],
    fractions: Annotated[
        str, typer.Option("--fractions", help="name=fraction,... e.g. train=0.8,validation=0.1,test=0.1")
    ] = "train=0.9,test=0.1",
    stratify: Annotated[
        str | None, typer.Option("--stratify", help="A field to stratify on: 'label' or a metadata key.")
    ] = None,
    group: Annotated[
        str,
        typer.Option(
            "--group",
            help="Rows kept in one part: near_duplicate, equal values of a field "
            "('label' or a metadata key), or none.",
        ),
    ] = "near_duplicate",
    seed: SeedOpt = 0,
    **read: Any,
) -> None:
    """Split into train/test (stratified; near-duplicates never cross splits); says how fractions were rounded."""
    from datamill.errors import ConfigError
    from datamill.finetune import split as run
    from datamill.finetune import write_examples

    _check_format(read["to"], "--to")
    fr: dict[str, float] = {}
    for spec in fractions.split(","):
        name, sep, value = spec.strip().partition("=")
        try:
            fr_value = float(value)
        except ValueError:
            fr_value = None
        if not sep or fr_value is None:
            raise ConfigError(f"--fractions must look like train=0.9,test=0.1, got {fractions!r}")
        if not re.fullmatch(r"\w+(\.\w+)*", name):  # the split names Hugging Face datasets accepts
            raise ConfigError(
                f"--fractions: a part name is letters, digits and _ (it names a file and a "
                f"dataset split), got {name!r}"
            )
        if name in fr:
            raise ConfigError(f"--fractions names {name!r} twice: {fractions!r}")
        fr[name] = fr_value
    recs = _read_all(source, beside=output, **read)
    parts = run(recs, fractions=fr, seed=seed, stratify=stratify, group=None if group == "none" else group)
    fmt = _output_format(recs, read["to"])
    for note in parts.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    n = sum(parts.counts.values())
    for name, items in parts.items():
        write_examples(items, output / f"{name}.jsonl", format=fmt)
        console.print(
            f"{name}: {len(items):,} ({len(items) / n:.1%}; asked {fr[name]:.1%}) → "
            f"{output / f'{name}.jsonl'}",
            highlight=False,
        )


@app.command()
def mix(
    sources: Annotated[list[str], typer.Argument(help="name=path[:weight] for each source.")],
    output: Annotated[Path, typer.Option(*OUTPUT, help="The mixed set.")],
    total: Annotated[int | None, typer.Option("--total", help="Examples in the mixture.")] = None,
    to: Annotated[str, typer.Option("--to", help="Output format.")] = "openai",
    seed: SeedOpt = 0,
    replace: Annotated[bool, typer.Option("--replace", help="Sample with replacement (upsampling).")] = False,
) -> None:
    """Mix several sources with weights into one set (seeded)."""
    from datamill.errors import ConfigError
    from datamill.finetune import mix as run
    from datamill.finetune import write_examples

    _check_format(to, "--to")
    data, weights = {}, {}
    for spec in sources:
        name, sep, rest = spec.partition("=")
        if not sep:
            raise ConfigError(f"a source is name=path[:weight], got {spec!r}")
        path, _, w = (
            rest.rpartition(":")
            if rest.count(":") and rest.rsplit(":", 1)[1].replace(".", "").isdigit()
            else (rest, "", "1")
        )
        data[name] = _read_all(path, "auto")
        weights[name] = float(w or 1)
    mixed = run(data, weights=weights, total=total, seed=seed, replace=replace)
    write_examples(mixed, output, format=to)
    console.print(f"wrote {len(mixed):,} examples to {output}")


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

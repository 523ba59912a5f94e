"""`datamill finetune clean | decontaminate | split | mix`: read a set, apply one step, write it back.

Registered on the ``datamill finetune`` app (:mod:`datamill.cli.finetune` imports this module); each
command is one call of :mod:`datamill.finetune.files`.
"""

from __future__ import annotations

from collections.abc import Callable
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
    console,
    open_quarantine,
    print_json,
    report_quarantine,
)
from datamill.cli.finetune import FormatOpt, app

ToOpt = Annotated[str | None, typer.Option("--to", help="Output format (default: the input's).")]
SourceArg = Annotated[str, typer.Argument(metavar="SRC", help="Input fine-tuning file.")]
SeedOpt = Annotated[int, typer.Option("--seed")]
#: How a set is read and written back (clean, decontaminate, split).
READ_WRITE = OptionBlock(
    format=(FormatOpt, "auto"),
    to=(ToOpt, None),
    on_error=(OnErrorOpt, "raise"),
    quarantine=(QuarantineOpt, None),
)


def _apply(step: Callable[..., Any], *args: Any, read: dict[str, Any], beside: Any, **options: Any) -> Any:
    """One call of a :mod:`datamill.finetune.files` step with the READ_WRITE options and the command's
    quarantine (beside ``beside``); then what was set aside, and the step's notes."""
    q = open_quarantine(read["on_error"], read["quarantine"], beside=beside)
    done = step(*args, **(read | {"quarantine": q}), **options)
    report_quarantine(q)
    for note in done.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    return done


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
    from datamill.finetune.files import clean_file

    done = _apply(
        clean_file,
        source,
        output,
        read=read,
        beside=output if output is not None else source,
        rejects=rejects,
        rules=rules,
        languages=languages,
        near_dup_threshold=near_dup_threshold,
        near_dup_method=near_dup_method,
        semantic_threshold=semantic_threshold,
        dry_run=dry_run,
        safety_model=safety_model,
        harmful_threshold=harmful_threshold,
    )
    if json_out:
        print_json(done.result.to_dict())
        return
    console.print(_clean_table(done.result, f"clean {source}"))
    if safety_model is not None:
        console.print(
            f"refusals: {done.result.counts.get('refusal', 0):,} removed, {len(done.result.kept_refusals):,} "
            "kept (the safety model judged their prompt harmful)",
            highlight=False,
        )
    console.print(_clean_summary(done.result, output, rejects), highlight=False)


def _clean_table(result: Any, title: str) -> Table:
    """What each rule removed (most first), with one example's line and reason."""
    table = Table(
        title=title + (" (dry run: nothing removed)" if result.dry_run else ""), title_justify="left"
    )
    for col in ("rule", "removed", "example (line: reason)"):
        table.add_column(col)
    for rule, n in sorted(result.counts.items(), key=lambda x: -x[1]):
        ex = result.examples(rule, 1)
        table.add_row(rule, f"{n:,}", f"{ex[0]['line']}: {ex[0]['reason']}"[:80] if ex else "")
    return table


def _clean_summary(result: Any, output: Path | None, rejects: Path | None) -> str:
    """One line: seen, kept, removed, and what was (or in a dry run would be) written where."""
    keep = result.seen - len(result.dropped)
    kept, removed, wrote_ = (
        ("would keep", "would remove", "would write") if result.dry_run else ("kept", "removed", "wrote")
    )
    wrote = [f"{keep:,} to {output}"] if output is not None else []
    wrote += [f"{len(result.dropped):,} rejects to {rejects}"] if rejects is not None else []
    return (
        f"seen {result.seen:,}, {kept} {keep:,}, {removed} {len(result.dropped):,}"
        + (f"; {wrote_} {', '.join(wrote)}" if wrote else "")
        + ("; dry run: nothing written" if result.dry_run else "")
    )


@app.command()
@READ_WRITE
def decontaminate(
    source: Annotated[str, typer.Argument(metavar="SRC", help="Training file.")],
    eval_texts: Annotated[
        list[str],
        typer.Option(
            "--eval-texts",
            "--eval",
            help="Evaluation file(s) (any fine-tuning format, or JSONL with a text field).",
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
    from datamill.finetune.files import decontaminate_file

    done = _apply(
        decontaminate_file,
        source,
        eval_texts,
        output,
        read=read,
        beside=output if output is not None else source,
        ngram=ngram,
        embedding_threshold=embedding_threshold,
    )
    if json_out:
        print_json(done.result.to_dict())
        return
    result, train = done.result, done.records
    console.print(
        f"{len(result.removed):,} of {len(train):,} training examples overlap {done.compared:,} evaluation "
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
    from datamill.finetune.files import split_file

    done = _apply(
        split_file,
        source,
        output,
        read=read,
        beside=output,
        fractions=fractions,
        stratify=stratify,
        group=group,
        seed=seed,
    )
    parts = done.result
    n = sum(parts.counts.values())
    for name, items in parts.items():
        console.print(
            f"{name}: {len(items):,} ({len(items) / n:.1%}; asked {parts.fractions[name]:.1%}) → "
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
    from datamill.finetune.files import mix_files

    done = mix_files(sources, output, total=total, to=to, seed=seed, replace=replace)
    console.print(f"wrote {len(done.result):,} examples to {output}")

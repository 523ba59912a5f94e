"""`datamill pretrain`: Pre-training corpora: web dumps (WARC, HTML, JSONL) to clean, deduplicated, tokenized shards."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from datamill.cli._common import (
    OUTPUT,
    ExecutorOpt,
    JsonOpt,
    OptionBlock,
    OverwriteOpt,
    PrintRecipeOpt,
    TokenizerOpt,
    WorkersOpt,
    console,
    print_json,
    print_run_result,
)

app = typer.Typer(
    help="Pre-training corpora: web dumps (WARC, HTML, JSONL) to clean, deduplicated, tokenized shards.",
    no_args_is_help=True,
)

InputsOpt = Annotated[
    list[str], typer.Option("--input", "-i", help="Input files, folders or globs (repeatable).")
]
OutputOpt = Annotated[str, typer.Option(*OUTPUT, help="Output folder (rerun into it to resume).")]
LangOpt = Annotated[str, typer.Option("--lang", help="Keep this language (ISO 639-1); '' keeps all.")]
LangidOpt = Annotated[
    str,
    typer.Option("--langid", help="Language ID engine: fasttext (lid.176, the default) or lingua (slower)."),
]
FormatOpt = Annotated[
    str,
    typer.Option("--output-format", "--format", help="Output format: parquet, jsonl, jsonl.gz, jsonl.zst."),
]
BlocklistOpt = Annotated[
    list[str] | None, typer.Option("--blocklist", "--block-domain", help="Blocked domain (repeatable).")
]

#: What every pretrain command takes after its own options: where shards run, and what to do with the run.
RUN = OptionBlock(
    executor=(ExecutorOpt, "local"),
    workers=(WorkersOpt, None),
    overwrite=(OverwriteOpt, False),
    print_recipe=(PrintRecipeOpt, False),
    json_out=(JsonOpt, False),
)


def _finish(pipe: Any, output: str, *, executor: str, workers: int | None, title: str, **run: Any) -> Any:
    """Print the recipe, or run the pipeline (in a :class:`Recipe`) and render its summary."""
    from datamill.recipes import Recipe

    return _run_recipe(
        Recipe(pipeline=pipe, output=output, executor=executor, workers=workers), title=title, **run
    )


def _run_recipe(recipe: Any, *, print_recipe: bool, overwrite: bool, json_out: bool, title: str) -> Any:
    """Print the whole recipe (pipeline and finishers: what ``datamill run`` needs to redo all of it),
    or run it and render its summary."""
    if print_recipe:
        typer.echo(recipe.to_yaml(), nl=False)
        return None
    result = recipe.run(progress=not json_out, overwrite=overwrite)
    _render(result, json_out=json_out, title=title, finish=recipe.finish)
    return result


def _render(result: Any, *, json_out: bool, title: str, finish: Any = ()) -> None:
    if json_out:
        print_json(
            {
                "output": result.output,
                "records_in": result.records_in,
                "records_out": result.records_out,
                "quarantined": result.quarantined,
                "files": result.files,
                "steps": [s.to_dict() for s in result.steps],
                "global": result.manifest.get("global"),
                "shards": result.manifest.get("shards"),
                "report": result.manifest.get("report"),
            }
        )
    else:
        print_run_result(result, title=title, finish=finish)


@app.command()
@RUN
def run(
    inputs: InputsOpt,
    output: OutputOpt,
    lang: LangOpt = "en",
    langid: LangidOpt = "fasttext",
    engine: Annotated[
        str, typer.Option("--engine", help="HTML extraction: resiliparse or trafilatura.")
    ] = "resiliparse",
    blocklist: BlocklistOpt = None,
    eval_sets: Annotated[
        list[str] | None, typer.Option("--eval-set", help="Decontaminate against (repeatable).")
    ] = None,
    minhash_threshold: Annotated[
        float, typer.Option("--minhash-threshold", help="Near-duplicate Jaccard threshold.")
    ] = 0.65,
    tokenizer: TokenizerOpt = "cl100k_base",
    token_ids: Annotated[
        bool, typer.Option("--token-ids", help="Also write uint32 token-id shards.")
    ] = False,
    **run: Any,
) -> None:
    """Run the default recipe: extract → langid → Gopher → C4 → FineWeb → PII → dedup → tokenize/shard → report."""
    from datamill.pretrain import default_recipe

    recipe = default_recipe(
        inputs,
        output,
        lang=lang,
        executor=run.pop("executor"),
        workers=run.pop("workers"),
        engine=engine,
        blocklist=blocklist,
        eval_sets=eval_sets,
        minhash_threshold=minhash_threshold,
        tokenizer=tokenizer,
        token_ids=token_ids,
        langid=langid,
    )
    _run_recipe(recipe, title="Pre-training run", **run)


@app.command()
@RUN
def extract(
    inputs: InputsOpt,
    output: OutputOpt,
    engine: Annotated[
        str, typer.Option("--engine", help="resiliparse (fast) or trafilatura.")
    ] = "resiliparse",
    output_format: FormatOpt = "parquet",
    **run: Any,
) -> None:
    """Extract main text (title, URL, date, language hint) from WARC/WET/HTML into documents."""
    from datamill.pretrain import extract_pipeline

    _finish(
        extract_pipeline(inputs, engine=engine, output_format=output_format),
        output,
        title="Extraction",
        **run,
    )


@app.command("filter")
@RUN
def filter_(
    inputs: InputsOpt,
    output: OutputOpt,
    lang: LangOpt = "en",
    langid: LangidOpt = "fasttext",
    min_language_score: Annotated[
        float, typer.Option("--min-language-score", "--min-lang-score", help="Minimum language confidence.")
    ] = 0.65,
    blocklist: BlocklistOpt = None,
    pii: Annotated[
        bool, typer.Option("--pii/--no-pii", help="Redact emails, phones, IPs, card numbers.")
    ] = True,
    word_lists: Annotated[
        list[str] | None,
        typer.Option(
            "--word-list", help="Drop documents using words of this list (repeatable; counts per category)."
        ),
    ] = None,
    output_format: FormatOpt = "parquet",
    **run: Any,
) -> None:
    """Language ID plus Gopher, C4 and FineWeb quality filters (paper thresholds) and PII redaction."""
    from datamill.pretrain import filter_pipeline

    pipe = filter_pipeline(
        inputs,
        lang=lang or None,
        min_language_score=min_language_score,
        blocklist=blocklist,
        pii=pii,
        output_format=output_format,
        langid=langid,
        word_lists=word_lists,
    )
    _finish(pipe, output, title="Filters", **run)


@app.command()
@RUN
def dedup(
    inputs: InputsOpt,
    output: OutputOpt,
    exact: Annotated[
        bool, typer.Option("--exact/--no-exact", help="Exact (normalised text hash) dedup.")
    ] = True,
    url: Annotated[bool, typer.Option("--url/--no-url", help="Normalised URL dedup.")] = True,
    minhash: Annotated[
        bool, typer.Option("--minhash/--no-minhash", help="MinHash-LSH near-dup dedup.")
    ] = True,
    threshold: Annotated[float, typer.Option("--threshold", help="Jaccard threshold.")] = 0.65,
    num_perm: Annotated[int, typer.Option("--num-perm", help="MinHash permutations.")] = 128,
    ngram: Annotated[int, typer.Option("--ngram", help="Shingle size in words.")] = 5,
    bands: Annotated[
        int | None, typer.Option("--bands", help="LSH bands (with --rows; default 14 x 8, FineWeb's).")
    ] = None,
    rows: Annotated[int | None, typer.Option("--rows", help="LSH rows per band.")] = None,
    semantic: Annotated[
        bool,
        typer.Option(
            "--semantic/--no-semantic",
            help="Then SemDeDup: embed, k-means, drop same-meaning documents MinHash kept.",
        ),
    ] = False,
    semantic_threshold: Annotated[
        float | None,
        typer.Option("--semantic-threshold", help="Cosine threshold of --semantic (default 0.8)."),
    ] = None,
    output_format: FormatOpt = "parquet",
    **run: Any,
) -> None:
    """URL, exact, MinHash-LSH (and semantic) dedup across all inputs; duplicates go to OUTPUT/dedup/ for audit."""
    from datamill.pretrain import dedup_pipeline

    pipe = dedup_pipeline(
        inputs,
        exact=exact,
        url=url,
        minhash=minhash,
        threshold=threshold,
        num_perm=num_perm,
        ngram=ngram,
        bands=bands,
        rows=rows,
        semantic=semantic,
        semantic_threshold=semantic_threshold,
        output_format=output_format,
    )
    result = _finish(pipe, output, title="Dedup", **run)
    if result is not None and not run["json_out"]:
        for g in result.manifest.get("global", []):
            console.print(
                f"[bold]{g['step']}[/] "
                + ", ".join(f"{k} {v}" for k, v in g.items() if k not in ("step", "cluster_size_histogram"))
            )


@app.command()
@RUN
def decontaminate(
    inputs: InputsOpt,
    output: OutputOpt,
    eval_sets: Annotated[
        list[str], typer.Option("--eval-set", help="JSONL/Parquet/HF eval set (repeatable).")
    ],
    n: Annotated[int, typer.Option("--n", help="n-gram length in words.")] = 13,
    action: Annotated[str, typer.Option("--action", help="drop or flag.")] = "drop",
    output_format: FormatOpt = "parquet",
    **run: Any,
) -> None:
    """Drop or flag documents sharing an n-gram (13 words) with evaluation sets."""
    from datamill.pretrain import decontaminate_pipeline

    pipe = decontaminate_pipeline(
        inputs, eval_sets=eval_sets, n=n, action=action, output_format=output_format
    )
    _finish(pipe, output, title="Decontamination", **run)


@app.command()
@RUN
def tokenize(
    inputs: InputsOpt,
    output: OutputOpt,
    tokenizer: TokenizerOpt = "cl100k_base",
    tokens_per_shard: Annotated[
        int, typer.Option("--tokens-per-shard", help="Target tokens per shard.")
    ] = 100_000_000,
    token_ids: Annotated[
        bool, typer.Option("--token-ids", help="Also write uint32 token-id shards.")
    ] = False,
    **run: Any,
) -> None:
    """Count tokens, then write fixed-size shards to OUTPUT/shards (optionally token-id .bin + .idx.npy)."""
    from datamill.pretrain import Shards, tokenize_pipeline
    from datamill.recipes import Recipe

    recipe = Recipe(
        pipeline=tokenize_pipeline(inputs, tokenizer=tokenizer),
        output=output,
        executor=run.pop("executor"),
        workers=run.pop("workers"),
        finish=[Shards(tokenizer=tokenizer, tokens_per_shard=tokens_per_shard, token_ids=token_ids)],
    )
    _run_recipe(recipe, title="Token counts", **run)


@app.command()
def report(
    output: Annotated[str, typer.Argument(help="A finished pretrain run folder.")],
    path: Annotated[
        str | None, typer.Option("--path", "--to", help="Where to write the HTML (default OUT/report.html).")
    ] = None,
) -> None:
    """Write one self-contained HTML report of a run: counts, drop reasons, histograms, clusters, tokens."""
    from datamill.pretrain import write_report

    console.print(f"[bold]report[/] {escape(write_report(output, path))}")


# the model-based commands (annotate, train-classifier, classify, agreement) register on this app
from datamill.cli import pretrain_models as _models  # noqa: E402,F401

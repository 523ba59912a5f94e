"""`datamill pretrain`: Pre-training corpora: web dumps (WARC, HTML, JSONL) to clean, deduplicated, tokenized shards."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from datamill.cli._common import (
    ExecutorOpt,
    PrintRecipeOpt,
    WorkersOpt,
    console,
    print_json,
    print_run_result,
)

app = typer.Typer(help="Pre-training corpora: web dumps (WARC, HTML, JSONL) to clean, deduplicated, tokenized shards.",
                  no_args_is_help=True)

InputOpt = Annotated[list[str], typer.Option("--input", "-i", help="Input files, folders or globs (repeatable).")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="Output folder (rerun into it to resume).")]
LangOpt = Annotated[str, typer.Option("--lang", help="Keep this language (ISO 639-1); '' keeps all.")]
LangidOpt = Annotated[str, typer.Option("--langid", help="Language ID engine: lingua or fasttext (lid.176, faster).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing, different run.")]
FormatOpt = Annotated[str, typer.Option("--format", help="Output format: parquet, jsonl, jsonl.gz, jsonl.zst.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")]


def _finish(pipe: Any, output: str, *, executor: str, workers: int | None, print_recipe: bool, overwrite: bool,
            as_json: bool, title: str) -> Any:
    """Print the recipe, or run the pipeline and render its summary."""
    from datamill.recipes import Recipe

    recipe = Recipe(pipeline=pipe, output=output, executor=executor, workers=workers)
    return _run_recipe(recipe, print_recipe=print_recipe, overwrite=overwrite, as_json=as_json, title=title)


def _run_recipe(recipe: Any, *, print_recipe: bool, overwrite: bool, as_json: bool, title: str) -> Any:
    """Print the whole recipe (pipeline and finishers: what ``datamill run`` needs to redo all of it),
    or run it and render its summary."""
    if print_recipe:
        typer.echo(recipe.to_yaml(), nl=False)
        return None
    result = recipe.run(progress=not as_json, overwrite=overwrite)
    _render(result, as_json=as_json, title=title, finish=recipe.finish)
    return result


def _render(result: Any, *, as_json: bool, title: str, finish: Any = ()) -> None:
    if as_json:
        print_json({"output": result.output, "records_in": result.records_in, "records_out": result.records_out,
                    "quarantined": result.quarantined, "files": result.files,
                    "steps": [s.to_dict() for s in result.steps], "global": result.manifest.get("global"),
                    "shards": result.manifest.get("shards"), "report": result.manifest.get("report")})
    else:
        print_run_result(result, title=title, finish=finish)


@app.command()
def run(
    input: InputOpt,  # noqa: A002
    output: OutputOpt,
    lang: LangOpt = "en",
    langid: LangidOpt = "lingua",
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = None,
    engine: Annotated[str, typer.Option("--engine", help="HTML extraction: resiliparse or trafilatura.")] = "resiliparse",
    blocklist: Annotated[list[str] | None, typer.Option("--block-domain", help="Blocked domain (repeatable).")] = None,
    eval_set: Annotated[list[str] | None, typer.Option("--eval-set", help="Decontaminate against (repeatable).")] = None,
    threshold: Annotated[float, typer.Option("--minhash-threshold", help="Near-duplicate Jaccard threshold.")] = 0.8,
    tokenizer: Annotated[str, typer.Option("--tokenizer", help="tiktoken encoding or tokenizer.json path.")] = "cl100k_base",
    token_ids: Annotated[bool, typer.Option("--token-ids", help="Also write uint32 token-id shards.")] = False,
    overwrite: OverwriteOpt = False,
    print_recipe: PrintRecipeOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the default recipe: extract → langid → Gopher → C4 → FineWeb → PII → dedup → tokenize/shard → report."""
    from datamill.pretrain import default_recipe

    recipe = default_recipe(input, output, lang=lang, executor=executor, workers=workers, engine=engine,
                            blocklist=blocklist, eval_sets=eval_set, minhash_threshold=threshold,
                            tokenizer=tokenizer, token_ids=token_ids, langid=langid)
    _run_recipe(recipe, print_recipe=print_recipe, overwrite=overwrite, as_json=as_json, title="Pre-training run")


@app.command()
def extract(
    input: InputOpt,  # noqa: A002
    output: OutputOpt,
    engine: Annotated[str, typer.Option("--engine", help="resiliparse (fast) or trafilatura.")] = "resiliparse",
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = None,
    output_format: FormatOpt = "parquet",
    overwrite: OverwriteOpt = False,
    print_recipe: PrintRecipeOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Extract main text (title, URL, date, language hint) from WARC/WET/HTML into documents."""
    from datamill.pretrain import extract_pipeline

    _finish(extract_pipeline(input, engine=engine, output_format=output_format), output, executor=executor,
            workers=workers, print_recipe=print_recipe, overwrite=overwrite, as_json=as_json, title="Extraction")


@app.command("filter")
def filter_(
    input: InputOpt,  # noqa: A002
    output: OutputOpt,
    lang: LangOpt = "en",
    langid: LangidOpt = "lingua",
    min_score: Annotated[float, typer.Option("--min-lang-score", help="Minimum language confidence.")] = 0.65,
    blocklist: Annotated[list[str] | None, typer.Option("--block-domain", help="Blocked domain (repeatable).")] = None,
    pii: Annotated[bool, typer.Option("--pii/--no-pii", help="Redact emails, phones, IPs, card numbers.")] = True,
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = None,
    output_format: FormatOpt = "parquet",
    overwrite: OverwriteOpt = False,
    print_recipe: PrintRecipeOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Language ID plus Gopher, C4 and FineWeb quality filters (paper thresholds) and PII redaction."""
    from datamill.pretrain import filter_pipeline

    pipe = filter_pipeline(input, lang=lang or None, min_language_score=min_score, blocklist=blocklist, pii=pii,
                           output_format=output_format, langid=langid)
    _finish(pipe, output, executor=executor, workers=workers, print_recipe=print_recipe, overwrite=overwrite,
            as_json=as_json, title="Filters")


@app.command()
def dedup(
    input: InputOpt,  # noqa: A002
    output: OutputOpt,
    exact: Annotated[bool, typer.Option("--exact/--no-exact", help="Exact (normalised text hash) dedup.")] = True,
    url: Annotated[bool, typer.Option("--url/--no-url", help="Normalised URL dedup.")] = True,
    minhash: Annotated[bool, typer.Option("--minhash/--no-minhash", help="MinHash-LSH near-dup dedup.")] = True,
    threshold: Annotated[float, typer.Option("--threshold", help="Jaccard threshold.")] = 0.8,
    num_perm: Annotated[int, typer.Option("--num-perm", help="MinHash permutations.")] = 128,
    ngram: Annotated[int, typer.Option("--ngram", help="Shingle size in words.")] = 5,
    bands: Annotated[int | None, typer.Option("--bands", help="LSH bands (with --rows).")] = None,
    rows: Annotated[int | None, typer.Option("--rows", help="LSH rows per band.")] = None,
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = None,
    output_format: FormatOpt = "parquet",
    overwrite: OverwriteOpt = False,
    print_recipe: PrintRecipeOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """URL, exact and MinHash-LSH dedup across all inputs; near-duplicates go to OUTPUT/dedup/ for audit."""
    from datamill.pretrain import dedup_pipeline

    pipe = dedup_pipeline(input, exact=exact, url=url, minhash=minhash, threshold=threshold, num_perm=num_perm,
                          ngram=ngram, bands=bands, rows=rows, output_format=output_format)
    result = _finish(pipe, output, executor=executor, workers=workers, print_recipe=print_recipe,
                     overwrite=overwrite, as_json=as_json, title="Dedup")
    if result is not None and not as_json:
        for g in result.manifest.get("global", []):
            console.print(f"[bold]{g['step']}[/] " + ", ".join(f"{k} {v}" for k, v in g.items()
                                                               if k not in ("step", "cluster_size_histogram")))


@app.command()
def decontaminate(
    input: InputOpt,  # noqa: A002
    output: OutputOpt,
    eval_set: Annotated[list[str], typer.Option("--eval-set", help="JSONL/Parquet/HF eval set (repeatable).")],
    n: Annotated[int, typer.Option("--n", help="n-gram length in words.")] = 13,
    action: Annotated[str, typer.Option("--action", help="drop or flag.")] = "drop",
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = None,
    output_format: FormatOpt = "parquet",
    overwrite: OverwriteOpt = False,
    print_recipe: PrintRecipeOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Drop or flag documents sharing an n-gram (13 words) with evaluation sets."""
    from datamill.pretrain import decontaminate_pipeline

    pipe = decontaminate_pipeline(input, eval_sets=eval_set, n=n, action=action, output_format=output_format)
    _finish(pipe, output, executor=executor, workers=workers, print_recipe=print_recipe, overwrite=overwrite,
            as_json=as_json, title="Decontamination")


@app.command()
def tokenize(
    input: InputOpt,  # noqa: A002
    output: OutputOpt,
    tokenizer: Annotated[str, typer.Option("--tokenizer", help="tiktoken encoding or tokenizer.json path.")] = "cl100k_base",
    tokens_per_shard: Annotated[int, typer.Option("--tokens-per-shard", help="Target tokens per shard.")] = 100_000_000,
    token_ids: Annotated[bool, typer.Option("--token-ids", help="Also write uint32 token-id shards.")] = False,
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = None,
    overwrite: OverwriteOpt = False,
    print_recipe: PrintRecipeOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Count tokens, then write fixed-size shards to OUTPUT/shards (optionally token-id .bin + .idx.npy)."""
    from datamill.pretrain import Shards, tokenize_pipeline
    from datamill.recipes import Recipe

    recipe = Recipe(pipeline=tokenize_pipeline(input, tokenizer=tokenizer), output=output, executor=executor,
                    workers=workers, finish=[Shards(tokenizer=tokenizer, tokens_per_shard=tokens_per_shard,
                                                    token_ids=token_ids)])
    _run_recipe(recipe, print_recipe=print_recipe, overwrite=overwrite, as_json=as_json, title="Token counts")


@app.command()
def report(
    output: Annotated[str, typer.Argument(help="A finished pretrain run folder.")],
    path: Annotated[str | None, typer.Option("--to", help="Where to write the HTML (default OUT/report.html).")] = None,
) -> None:
    """Write one self-contained HTML report of a run: counts, drop reasons, histograms, clusters, tokens."""
    from datamill.pretrain import write_report

    console.print(f"[bold]report[/] {escape(write_report(output, path))}")

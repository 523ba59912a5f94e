"""`datamill pretrain annotate | train-classifier | classify | agreement`: model-based quality and safety.

Registered on the ``datamill pretrain`` app (:mod:`datamill.cli.pretrain` imports this module).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from datamill.cli._common import OUTPUT, JsonOpt, OverwriteOpt, console, print_json
from datamill.cli.pretrain import RUN, FormatOpt, InputsOpt, OutputOpt, _finish, app
from datamill.cli.synthetic import ASKING, TEACHER, _none, _print_failures

RubricOpt = Annotated[
    str,
    typer.Option("--rubric", help="fineweb-edu (0-5 educational value), toxicity (0-3) or a rubric file."),
]
ModelDirOpt = Annotated[str, typer.Option("--model", help="A folder written by train-classifier.")]


def _pairs(items: list[str] | None, what: str) -> dict[str, str] | None:
    if not items:
        return None
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            from datamill.errors import ConfigError

            raise ConfigError(f"{what} takes KEY=VALUE, got {item!r}")
        out[key] = value
    return out


@app.command()
@TEACHER
@ASKING
def annotate(
    inputs: InputsOpt,
    output: Annotated[Path, typer.Option(*OUTPUT, help="Labelled rows (.jsonl, .jsonl.gz, .parquet).")],
    rubric: RubricOpt = "fineweb-edu",
    sample: Annotated[
        int | None, typer.Option("--sample", help="Documents to label (default 1000; 0: all).")
    ] = 1000,
    text_field: Annotated[str, typer.Option("--text-field", help="Text field of plain rows.")] = "text",
    max_chars: Annotated[int, typer.Option("--max-chars", help="Cut documents to this length.")] = 10_000,
    feedback_db: Annotated[
        str | None, typer.Option("--feedback-db", help="Feedback app database for human checking.")
    ] = None,
    feedback_project: Annotated[
        str | None, typer.Option("--feedback-project", help="Rubric project to import the share into.")
    ] = None,
    feedback_share: Annotated[
        float, typer.Option("--feedback-share", help="Share of labelled rows people score (0-1).")
    ] = 0.0,
    **options: Any,
) -> None:
    """A teacher scores a sample of documents with a rubric (cached, resumable); writes labelled rows."""
    from datamill.pretrain.annotate import annotate as run
    from datamill.synthetic import make_teacher
    from datamill.synthetic.run import default_rejects

    rejects = _none(options["rejects"])
    result = run(
        inputs,
        output,
        teacher=make_teacher(
            options["teacher"],
            model=options["model"],
            max_concurrency=options["max_concurrency"],
            api_key_env=options["api_key_env"],
        ),
        rubric=rubric,
        sample=sample or None,
        seed=options["seed"],
        text_field=text_field,
        max_chars=max_chars,
        cache=_none(options["cache"]),
        max_tokens=options["max_tokens"],
        max_failures=options["max_failures"],
        rejects=default_rejects(output) if rejects == "default" else rejects,
        progress=options["progress"] and not options["json_out"],
        feedback_db=feedback_db,
        feedback_project=feedback_project,
        feedback_share=feedback_share,
    )
    if options["json_out"]:
        print_json(result.to_dict())
        return
    table = Table(title=f"Teacher labels ({result.labelled:,} rows)", title_justify="left")
    table.add_column("score")
    table.add_column("rows", justify="right")
    for label, n in result.labels.items():
        table.add_row(label, f"{n:,}")
    console.print(table)
    console.print(result.usage.table())
    console.print(
        f"[bold]{result.labelled:,}[/] labelled of {result.sampled:,} sampled from {result.documents:,} "
        f"documents -> {escape(result.output)}",
        highlight=False,
    )
    if result.feedback:
        fb = result.feedback
        console.print(
            f"{fb['tasks']:,} rows sent to feedback project {escape(fb['project'])} for people to score"
        )
    _print_failures(result.usage)
    if result.rejects:
        console.print(f"[yellow]answers given up[/] -> {escape(result.rejects)}")


@app.command("train-classifier")
def train_classifier(
    inputs: InputsOpt,
    output: OutputOpt,
    text_field: Annotated[str, typer.Option("--text-field", help="Text column of plain rows.")] = "text",
    label_field: Annotated[str, typer.Option("--label-field", help="Label column of plain rows.")] = "label",
    label_map: Annotated[
        list[str] | None, typer.Option("--label-map", help="Rename a label: OLD=NEW (repeatable).")
    ] = None,
    task: Annotated[str, typer.Option("--task", help="auto, classification or regression.")] = "auto",
    features: Annotated[
        str, typer.Option("--features", help="ngrams (hashed word n-grams) or embedding (MiniLM).")
    ] = "ngrams",
    n_features: Annotated[int, typer.Option("--n-features", help="Hash buckets.")] = 2**20,
    ngrams: Annotated[int, typer.Option("--ngrams", help="Longest word n-gram (1-3).")] = 2,
    embedding_model: Annotated[
        str, typer.Option("--embedding-model", help="Sentence-transformers folder or the shipped MiniLM.")
    ] = "all-MiniLM-L6-v2",
    regularization: Annotated[
        float | None, typer.Option("--regularization", help="Logistic C (default 10) or ridge alpha (1).")
    ] = None,
    balanced: Annotated[
        bool, typer.Option("--balanced/--no-balanced", help="Weight labels by inverse frequency.")
    ] = True,
    positive: Annotated[
        str | None, typer.Option("--positive", help="The label whose probability is the score.")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Suggested cut (and F1 cut for scores).")
    ] = None,
    name: Annotated[
        str, typer.Option("--name", help="Model name; its score key is NAME_score.")
    ] = "classifier",
    test_size: Annotated[float, typer.Option("--test-size", help="Held-out share.")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split.")] = 0,
    baseline: Annotated[
        bool, typer.Option("--baseline/--no-baseline", help="Also score sklearn's bag-of-words baseline.")
    ] = True,
    overwrite: OverwriteOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Learn a quality/safety classifier from labelled rows; held-out metrics beside a baseline, model card."""
    from datamill.pretrain import train_classifier as run

    with console.status("training", spinner="dots") if not json_out else _Quiet():
        result = run(
            inputs,
            output,
            text_field=text_field,
            label_field=label_field,
            label_map=_pairs(label_map, "--label-map"),
            task=task,
            features=features,
            n_features=n_features,
            ngrams=ngrams,
            embedding_model=embedding_model,
            regularization=regularization,
            balanced=balanced,
            positive=positive,
            threshold=threshold,
            name=name,
            test_size=test_size,
            seed=seed,
            baseline=baseline,
            overwrite=overwrite,
        )
    if json_out:
        print_json(result.to_dict())
        return
    console.print(result.table())
    console.print(
        f"{result.model.task} model on {result.rows:,} rows ({result.labels}) -> {escape(result.output)} "
        f"(model card: model_card.md)",
        highlight=False,
    )


class _Quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@app.command()
@RUN
def classify(
    inputs: InputsOpt,
    output: OutputOpt,
    model: ModelDirOpt,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Keep scores >= this (default: the model's).")
    ] = None,
    top_fraction: Annotated[
        float | None, typer.Option("--top-fraction", help="Keep exactly this share of all documents.")
    ] = None,
    keep: Annotated[str, typer.Option("--keep", help="high (quality) or low (toxicity) scores.")] = "high",
    score_key: Annotated[
        str | None, typer.Option("--score-key", help="Metadata key of the score (default NAME_score).")
    ] = None,
    output_format: FormatOpt = "parquet",
    **run: Any,
) -> None:
    """Score documents with a trained classifier; keep those past a threshold or the top fraction of all."""
    from datamill.pretrain import classify_pipeline

    pipe = classify_pipeline(
        inputs,
        model=model,
        threshold=threshold,
        top_fraction=top_fraction,
        keep=keep,
        score_key=score_key,
        output_format=output_format,
    )
    _finish(pipe, output, title="Classifier filter", **run)


@app.command()
def agreement(
    labels: Annotated[str, typer.Argument(help="The labelled rows annotate wrote.")],
    project: Annotated[str, typer.Option("--project", help="The feedback project annotate filled.")],
    db: Annotated[
        str | None, typer.Option("--db", envvar="DATABASE_URL", help="Feedback database URL.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Agreement between the teacher's labels and people's judgements of the same rows."""
    from datamill.pretrain.review import teacher_agreement

    result = teacher_agreement(labels, db=db, project=project)
    if json_out:
        print_json(result)
        return
    table = Table(title=f"Teacher vs people ({result['judgements']:,} judgements)", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.3f}")
    console.print(table)

"""`datamill diagnose`: Why did the model get it wrong: coverage, label noise, inconsistency, contradictions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from datamill.cli._common import OUTPUT, JsonOpt, console, print_json

app = typer.Typer(
    help="Why did the model get it wrong: coverage, label noise, inconsistency, contradictions.",
    no_args_is_help=True,
)


def _print_summary(d: Any, summary: dict[str, int], html_path: Any, json_path: Any) -> None:
    """The diagnosis' summary table: mistakes by cause, then the training-set findings and where the report is."""
    table = Table(
        title=f"{summary['mistakes']:,} mistakes of {len(d.results):,} results, "
        f"{len(d.train):,} training examples",
        title_justify="left",
    )
    table.add_column("cause")
    table.add_column("mistakes", justify="right")
    table.add_column("share", justify="right")
    for cause in (
        "never_seen",
        "noisy_label",
        "inconsistent_label",
        "contradictory_context",
        "combination",
        "unexplained",
    ):
        n = summary[cause]
        table.add_row(cause.replace("_", " "), f"{n:,}", f"{n / max(summary['mistakes'], 1):.0%}")
    console.print(table)
    console.print(
        f"{len(d.noisy_train):,} likely label errors in training, {len(d.conflicts):,} conflicting "
        f"near-duplicate groups, {len(d.eval_label_issues):,} doubtful expected answers"
    )
    console.print(
        f"report: [bold]{escape(str(html_path))}[/] and {escape(str(json_path))} ({d.timings['total']:.1f}s)"
    )


@app.command()
def report(
    results: Annotated[
        Path,
        typer.Option(
            "--results",
            "-r",
            help="Evaluation results JSONL (input/messages, expected, output, correct/score, probs?, contexts?).",
        ),
    ],
    train: Annotated[
        str,
        typer.Option(
            "--train", "-t", help="Training set: JSONL/Parquet file, folder, glob or saved HF dataset."
        ),
    ],
    out_html: Annotated[
        Path, typer.Option(*OUTPUT, help="HTML report to write (report.json is written beside it).")
    ] = Path("report.html"),
    feedback: Annotated[
        Path | None,
        typer.Option("--feedback", help="Annotator judgements JSONL (Judgement records or export rows)."),
    ] = None,
    contexts: Annotated[
        Path | None, typer.Option("--contexts", help="Context passages per result id JSONL ({id, contexts}).")
    ] = None,
    embedder: Annotated[
        str,
        typer.Option(
            "--embedder", "--model", help="Embedding model: all-MiniLM-L6-v2 (shipped) or a local folder."
        ),
    ] = "all-MiniLM-L6-v2",
    classes: Annotated[
        str | None,
        typer.Option(
            "--classes", help="Comma-separated class names in the order of 'probs' (default: sorted labels)."
        ),
    ] = None,
    coverage_threshold: Annotated[
        float | None,
        typer.Option(
            "--coverage-threshold",
            help="Coverage under which a mistake was never seen (default: from the training set).",
        ),
    ] = None,
    near_sim: Annotated[
        float, typer.Option("--near-sim", help="Similarity of a near training neighbour.")
    ] = 0.8,
    dup_sim: Annotated[float, typer.Option("--dup-sim", help="Similarity of a near-duplicate input.")] = 0.92,
    detector: Annotated[
        str,
        typer.Option(
            "--detector",
            help="Context contradictions: rules, learned or combined (rules + the learned model).",
        ),
    ] = "rules",
    json_out: JsonOpt = False,
) -> None:
    """Attribute each mistake to its data causes and write one HTML report plus report.json."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from datamill.diagnose import diagnose, write_report

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=json_out,
    ) as bar:
        task = bar.add_task("reading", total=None)
        d = diagnose(
            results,
            train,
            feedback=feedback,
            contexts=contexts,
            embedder=embedder,
            classes=[c.strip() for c in classes.split(",")] if classes else None,
            coverage_threshold=coverage_threshold,
            near_sim=near_sim,
            dup_sim=dup_sim,
            detector=detector,
            progress=lambda phase: bar.update(task, description=phase),
        )
        bar.update(task, description="writing report")
        html_path, json_path = write_report(d, out_html)
    summary = d.summary()
    if json_out:
        print_json({"summary": summary, "html": html_path, "json": json_path, "seconds": d.timings["total"]})
        return
    _print_summary(d, summary, html_path, json_path)


@app.command("label-issues")
def label_issues(
    labels: Annotated[
        Path, typer.Option("--labels", help="Given labels: .npy of ints, or JSONL with 'label'.")
    ],
    probs: Annotated[
        Path,
        typer.Option(
            "--probs", help="Out-of-sample predicted probabilities: .npy (n, K), or JSONL with 'probs'."
        ),
    ],
    top: Annotated[int, typer.Option("--top", help="Rows to show.")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """Confident learning over out-of-sample probabilities: likely label errors, worst first."""
    from datamill.diagnose.label_noise import find_label_issues as find
    from datamill.diagnose.label_noise import label_quality_scores, load_label_arrays

    y, p = load_label_arrays(labels, probs)
    ranked = find(y, p, return_indices_ranked_by="self_confidence")
    quality = label_quality_scores(y, p)
    rows = [
        {"index": int(i), "label": int(y[i]), "likely": int(p[i].argmax()), "quality": float(quality[i])}
        for i in ranked
    ]
    if json_out:
        print_json({"issues": rows, "count": len(rows), "n": len(y)})
        return
    table = Table(title=f"{len(rows):,} likely label errors in {len(y):,} examples", title_justify="left")
    for col in ("index", "given", "likely", "self-confidence"):
        table.add_column(col, justify="right")
    for r in rows[:top]:
        table.add_row(str(r["index"]), str(r["label"]), str(r["likely"]), f"{r['quality']:.3f}")
    console.print(table)


@app.command()
def contradictions(
    contexts: Annotated[
        Path,
        typer.Option(
            "--contexts",
            "-c",
            help="Contexts JSONL: {id, contexts|context|passages} per RAG context or prompt; a "
            "claim field (a statement) turns on the claim-aware mode for that context.",
        ),
    ],
    claim: Annotated[
        str | None,
        typer.Option(
            "--claim",
            help="The claim (a statement) of every context, over the rows' own: flag a passage supporting it "
            "and another refuting it.",
        ),
    ] = None,
    detector: Annotated[
        str,
        typer.Option(
            "--detector",
            help="rules, learned, cross, judge or combined (rules + learned, + judge with --teacher); "
            "sums like rules+cross work too.",
        ),
    ] = "combined",
    teacher: Annotated[
        str | None,
        typer.Option(
            "--teacher", help="Judge the related pairs with this teacher (base URL or local model)."
        ),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="The judge teacher's model name.")] = None,
    cache: Annotated[
        str | None, typer.Option("--cache", help="The judge's request cache (default: synthetic's).")
    ] = "default",
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="P(contradiction) from which a model detector flags a pair."),
    ] = None,
    support_threshold: Annotated[
        float | None,
        typer.Option(
            "--support-threshold", help="Claim-aware mode: P(entailment) from which a statement supports it."
        ),
    ] = None,
    refute_threshold: Annotated[
        float | None,
        typer.Option(
            "--refute-threshold", help="Claim-aware mode: P(contradiction) from which a statement refutes it."
        ),
    ] = None,
    min_similarity: Annotated[
        float, typer.Option("--min-similarity", help="Cosine similarity of two statements about one subject.")
    ] = 0.5,
    max_neighbours: Annotated[
        int, typer.Option("--max-neighbours", help="Most similar statements each statement is paired with.")
    ] = 5,
    cross_pairs: Annotated[
        int,
        typer.Option("--cross-pairs", help="Candidate pairs per context the cross-encoder reads (cascade)."),
    ] = 4,
    embedder: Annotated[
        str, typer.Option("--embedder", help="Embedding model of the learned detector (shipped MiniLM).")
    ] = "all-MiniLM-L6-v2",
    weights: Annotated[
        str | None, typer.Option("--weights", help="A contradiction model saved by the training script.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(*OUTPUT, help="Write {id, contradictions} JSONL of the flagged contexts.")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Contradictions the table shows.")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """Find statements that contradict each other inside each context (RAG passages, prompt sets)."""
    from datamill.diagnose import TeacherJudge, scan_contradictions

    judge = TeacherJudge(teacher, model=model, cache=cache, progress=not json_out) if teacher else None
    scan = scan_contradictions(
        contexts,
        claim=claim,
        detector=detector,
        judge=judge,
        embedder=embedder,
        weights=weights,
        threshold=threshold,
        support_threshold=support_threshold,
        refute_threshold=refute_threshold,
        min_similarity=min_similarity,
        max_neighbours=max_neighbours,
        cross_pairs=cross_pairs,
        progress=not json_out,
        output=output,
    )
    s = scan.summary()
    if json_out:
        print_json(scan.to_dict())
        return
    table = Table(
        title=f"{s['flagged']:,} of {s['contexts']:,} contexts hold contradictions "
        f"({s['contradictions']:,} pairs; detectors: {'+'.join(s['detectors'])}"
        + (f"; {s['claims']:,} checked against their claim" if s["claims"] else "")
        + ")",
        title_justify="left",
    )
    for col, just in (
        ("id", "left"),
        ("detector", "left"),
        ("score", "right"),
        ("statement", "left"),
        ("conflicts with", "left"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    rows = [(k, c) for k, cs in scan.found.items() for c in cs]
    for k, c in rows[:top]:
        table.add_row(escape(k), c.detector, f"{c.score:.2f}", escape(c.first[:120]), escape(c.second[:120]))
    console.print(table)
    by = ", ".join(f"{k} {v:,}" for k, v in s["by_detector"].items()) or "none"
    secs = s["seconds"]
    console.print(
        f"found by: {by}; {s['statements']:,} statements, {s['pairs_scored']:,} pairs scored, "
        f"{s['pairs_judged']:,} judged in {secs.get('total', 0):.2f}s"
        + (f"; written to {escape(str(output))}" if output else "")
    )
    if judge is not None:
        console.print(judge.usage.table("Judge usage"))

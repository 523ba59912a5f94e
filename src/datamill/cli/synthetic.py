"""`datamill synthetic`: Synthetic data and distillation: teacher models generate and judge data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from datamill.cli._common import (
    OUTPUT,
    JsonOpt,
    OptionBlock,
    PrintRecipeOpt,
    ProgressOpt,
    TextFieldOpt,
    console,
    print_json,
    stats_table,
)

app = typer.Typer(
    help="Synthetic data and distillation: teacher models generate and judge data.", no_args_is_help=True
)

TeacherOpt = Annotated[
    str,
    typer.Option(
        "--teacher", "-t", help="OpenAI-compatible base URL (…/v1) or a local transformers model folder."
    ),
]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model name sent to the server.")]
InputsOpt = Annotated[list[Path], typer.Option("--input", "-i", help="Input JSONL/Parquet file(s).")]
OutputOpt = Annotated[Path, typer.Option(*OUTPUT, help="Output file (.jsonl, .jsonl.gz, .parquet).")]
CacheOpt = Annotated[
    str,
    typer.Option(
        "--cache",
        help="SQLite request cache ('default': "
        "$DATAMILL_SYNTHETIC_CACHE or ~/.cache/datamill/synthetic.sqlite; "
        "'none' disables).",
    ),
]
ConcurrencyOpt = Annotated[
    int, typer.Option("--max-concurrency", "--concurrency", "-c", help="Requests in flight at once.")
]
ApiKeyOpt = Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the API key.")]
MaxTokensOpt = Annotated[int, typer.Option("--max-tokens", help="Max tokens per answer.")]
TemperatureOpt = Annotated[float, typer.Option("--temperature", help="Sampling temperature.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed sent with each request.")]
MaxFailuresOpt = Annotated[
    float,
    typer.Option(
        "--max-failures",
        min=0.0,
        max=1.0,
        help="Share of teacher requests (0-1) that may fail past their retries; above it, or when every request "
        "fails, the command stops with the first cause and exits 1.",
    ),
]
RejectsOpt = Annotated[
    str,
    typer.Option(
        "--rejects",
        help="JSONL of answers given up (invalid past the re-asks, "
        "teacher errors); 'default': OUT.rejects.jsonl, 'none' "
        "to skip.",
    ),
]

#: The teacher (who answers) leads a generation command's options ...
TEACHER = OptionBlock(teacher=(TeacherOpt, ...), model=(ModelOpt, None), lead=True)
#: ... and how it is asked, cached and reported follows them.
ASKING = OptionBlock(
    cache=(CacheOpt, "default"),
    max_concurrency=(ConcurrencyOpt, 32),
    api_key_env=(ApiKeyOpt, "OPENAI_API_KEY"),
    max_tokens=(MaxTokensOpt, 1024),
    seed=(SeedOpt, 0),
    json_out=(JsonOpt, False),
    progress=(ProgressOpt, True),
    rejects=(RejectsOpt, "default"),
    max_failures=(MaxFailuresOpt, 0.5),
)


def _none(value: str) -> str | None:
    """'none' (any case) on the command line is None in Python."""
    return None if value.lower() == "none" else value


def _step_options(
    teacher: str,
    model: str | None,
    max_concurrency: int,
    api_key_env: str,
    cache: str,
    max_tokens: int,
    seed: int,
    max_failures: float,
    progress: bool,
    json_out: bool,
    **_: Any,
) -> dict[str, Any]:
    """The keywords of a generation step (:class:`~datamill.synthetic.tasks.TeacherStep`) from the
    TEACHER and ASKING options."""
    from datamill.synthetic import make_teacher

    return {
        "teacher": make_teacher(
            teacher, model=model, max_concurrency=max_concurrency, api_key_env=api_key_env
        ),
        "cache": _none(cache),
        "max_tokens": max_tokens,
        "seed": seed,
        "max_failures": max_failures,
        "progress": progress and not json_out,
    }


def _print_failures(usage: Any) -> None:
    if usage.failed:
        console.print(
            f"[yellow]{usage.failed:,}[/] teacher request(s) failed past their retries (rerun to retry "
            f"them); first cause: {escape(str(usage.first_failure))}",
            highlight=False,
        )


def _print_recipe(step: Any, inputs: list[Path], output: Path, text_field: str) -> None:
    from datamill.pipeline import JsonlReader, Pipeline, Writer
    from datamill.recipes import dump_recipe

    fmt = "parquet" if str(output).endswith(".parquet") else "jsonl"
    pipe = Pipeline(
        [step],
        reader=JsonlReader(paths=[str(p) for p in inputs], text_field=text_field),
        writer=Writer(format=fmt),
    )
    typer.echo(dump_recipe(pipe, output=str(output.with_suffix("")) + "-run"))


def _run(
    step: Any,
    inputs: list[Path],
    output: Path,
    *,
    text_field: str = "prompt",
    rejects: str,
    json_out: bool,
    title: str = "Generation",
    **_: Any,
) -> Any:
    """Run ``step`` over the inputs (:func:`~datamill.synthetic.run.run_step`) and render what it made."""
    from datamill.synthetic.run import run_step

    result = run_step(step, [str(p) for p in inputs], output, text_field=text_field, rejects=_none(rejects))
    if json_out:
        return result
    console.print(stats_table([result.stats], title=title))
    console.print(result.usage.table())
    return result


def _done(result: Any, line: str) -> None:
    console.print(line)
    _print_failures(result.usage)
    if result.rejected:
        console.print(f"[yellow]{result.rejected:,}[/] answers given up (not kept) -> {result.rejects}")


def _generate(
    step: Any, inputs: list[Path], output: Path, *, text_field: str, print_recipe: bool, **options: Any
) -> None:
    if print_recipe:
        _print_recipe(step, inputs, output, text_field)
        return
    result = _run(step, inputs, output, text_field=text_field, **options)
    if options["json_out"]:
        print_json(result.to_dict())
        return
    _done(
        result,
        f"[bold]{result.records_out:,}[/] records from {result.records_in:,} inputs -> {result.output}",
    )


@app.command()
@TEACHER
@ASKING
def respond(
    inputs: InputsOpt,
    output: OutputOpt,
    k: Annotated[int, typer.Option("--k", "-k", help="Samples per prompt.")] = 1,
    system: Annotated[str | None, typer.Option("--system", help="System prompt.")] = None,
    json_mode: Annotated[
        bool, typer.Option("--json-mode", help="Require JSON answers (re-ask, then reject).")
    ] = False,
    json_schema: Annotated[
        Path | None,
        typer.Option(
            "--json-schema", help="A JSON Schema file the answers must satisfy (implies --json-mode)."
        ),
    ] = None,
    temperature: TemperatureOpt = 0.7,
    text_field: TextFieldOpt = "prompt",
    print_recipe: PrintRecipeOpt = False,
    **options: Any,
) -> None:
    """Distil: the teacher answers every prompt (k samples each). Rerun the same command to resume."""
    from datamill.synthetic import Respond

    schema = None
    if json_schema is not None:
        import json

        from datamill.errors import ConfigError

        try:
            schema = json.loads(json_schema.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{json_schema}: cannot read the JSON Schema: {exc}") from None
    step = Respond(
        k=k,
        system=system,
        json_mode=json_mode,
        json_schema=schema,
        temperature=temperature,
        **_step_options(**options),
    )
    _generate(step, inputs, output, text_field=text_field, print_recipe=print_recipe, **options)


@app.command("self-instruct")
@TEACHER
@ASKING
def self_instruct(
    inputs: Annotated[
        list[Path],
        typer.Option("--seeds", "--input", help="Seed tasks JSONL (Self-Instruct seed_tasks.jsonl format)."),
    ],
    output: OutputOpt,
    num_instructions: Annotated[
        int, typer.Option("--num-instructions", "--num", "-n", help="New instructions to generate.")
    ] = 100,
    rouge_threshold: Annotated[
        float, typer.Option("--rouge-threshold", help="Drop if ROUGE-L above this.")
    ] = 0.7,
    temperature: TemperatureOpt = 1.0,
    **options: Any,
) -> None:
    """Bootstrap new instructions from seed tasks with the Self-Instruct paper's filters."""
    from datamill.synthetic import SelfInstruct

    step = SelfInstruct(
        num_instructions=num_instructions,
        rouge_threshold=rouge_threshold,
        temperature=temperature,
        **_step_options(**options),
    )
    result = _run(step, inputs, output, title="Self-Instruct (dropped = candidate instructions)", **options)
    if options["json_out"]:
        print_json(
            {
                "output": result.output,
                "seeds": result.records_in,
                "generated": result.records_out,
                "step": result.stats.to_dict(),
                "usage": result.usage.to_dict(),
                "rejects": result.rejects,
                "rejected": result.rejected,
            }
        )
        return
    _done(
        result,
        f"[bold]{result.records_out:,}[/] new instructions from {result.records_in:,} seeds -> "
        f"{result.output}",
    )


@app.command()
@TEACHER
@ASKING
def qa(
    inputs: InputsOpt,
    output: OutputOpt,
    n_per_chunk: Annotated[
        int,
        typer.Option(
            "--n-per-chunk",
            help="Question/answer pairs per chunk, one request each; a repeated question is dropped (counted).",
        ),
    ] = 1,
    min_grounding: Annotated[
        float, typer.Option("--min-grounding", help="Min share of answer words in the chunk.")
    ] = 0.5,
    temperature: TemperatureOpt = 0.7,
    text_field: TextFieldOpt = "text",
    print_recipe: PrintRecipeOpt = False,
    **options: Any,
) -> None:
    """Grounded question/answer pairs from document chunks (e.g. `datamill incontext chunk` output)."""
    from datamill.synthetic import QAFromDocs

    step = QAFromDocs(
        n_per_chunk=n_per_chunk,
        min_grounding=min_grounding,
        temperature=temperature,
        **_step_options(**options),
    )
    _generate(step, inputs, output, text_field=text_field, print_recipe=print_recipe, **options)


@app.command()
@TEACHER
@ASKING
def judge(
    inputs: InputsOpt,
    output: OutputOpt,
    mode: Annotated[
        str, typer.Option("--mode", help="pairwise (Preference out) or rubric (score Examples).")
    ] = "pairwise",
    swap: Annotated[
        bool,
        typer.Option("--swap/--no-swap", help="Judge each pair in both orders (--no-swap: one order only)."),
    ] = True,
    text_field: TextFieldOpt = "prompt",
    print_recipe: PrintRecipeOpt = False,
    **options: Any,
) -> None:
    """LLM-as-judge: pairwise with position swapping (rows: prompt, response_a, response_b) or rubric scores."""
    from datamill.synthetic import Judge

    step = Judge(mode=mode, swap=swap, **_step_options(**options))
    _generate(step, inputs, output, text_field=text_field, print_recipe=print_recipe, **options)


from datamill.cli import synthetic_tools as _tools  # noqa: E402, F401  (generate, to-feedback, fake-server)

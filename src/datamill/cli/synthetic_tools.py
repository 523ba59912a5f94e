"""`datamill synthetic generate | to-feedback | fake-server`: around the generation steps, run a recipe
of them, hand their results to feedback, serve the offline fake teacher.

Registered on the ``datamill synthetic`` app (:mod:`datamill.cli.synthetic` imports this module).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from datamill.cli._common import (
    OUTPUT,
    ExecutorOpt,
    JsonOpt,
    OptionBlock,
    PrintRecipeOpt,
    WorkersOpt,
    console,
    print_json,
)
from datamill.cli.synthetic import InputsOpt, OutputOpt, SeedOpt, app


@app.command()
def generate(
    path: Annotated[
        Path, typer.Argument(metavar="RECIPE", help="A YAML recipe whose steps include synthetic.* steps.")
    ],
    output: Annotated[str | None, typer.Option(*OUTPUT, help="Output folder (overrides the recipe).")] = None,
    executor: ExecutorOpt = "local",
    workers: WorkersOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over instead of resuming.")] = False,
    print_recipe: PrintRecipeOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Run a generation recipe (resumable: finished shards are skipped, finished requests come from the cache)."""
    from datamill.cli._common import print_run_result
    from datamill.recipes import load_recipe

    rec = load_recipe(path)
    if print_recipe:
        typer.echo(rec.to_yaml())
        return
    result = rec.run(
        output=output, executor=executor, workers=workers, progress=not json_out, overwrite=overwrite
    )
    if json_out:
        print_json(
            {
                "output": result.output,
                "records_in": result.records_in,
                "records_out": result.records_out,
                "steps": [s.to_dict() for s in result.steps],
            }
        )
        return
    print_run_result(result, title="Generation")
    table = _usage_table(result.steps)
    if table.row_count:
        console.print(table)


def _usage_table(steps: Any) -> Any:
    """What each teacher step asked: requests, cache hits, tokens, cost and invalid answers by kind."""
    from rich.table import Table

    table = Table(title="Teacher usage per step", title_justify="left")
    for col in ("step", "requests", "cache hits", "prompt tok", "completion tok", "cost $", "invalid"):
        table.add_column(col, justify="left" if col in ("step", "invalid") else "right")
    for st in steps:
        c = st.counters
        if "requests" not in c:
            continue
        invalid = ", ".join(f"{k[8:]} {v}" for k, v in c.items() if k.startswith("invalid_"))
        table.add_row(
            st.name,
            f"{c['requests']:,}",
            f"{c['cache_hits']:,}",
            f"{c['prompt_tokens']:,}",
            f"{c['completion_tokens']:,}",
            f"{c['cost_microusd'] / 1e6:,.4f}",
            invalid,
        )
    return table


@app.command("to-feedback")
def to_feedback(
    inputs: InputsOpt,
    output: OutputOpt,
    json_out: JsonOpt = False,
) -> None:
    """Judged pairs and teacher answers as feedback tasks (then: datamill feedback import PROJECT OUT)."""
    from datamill.synthetic import write_feedback_tasks

    n = write_feedback_tasks(inputs, output)
    if json_out:
        print_json({"output": str(output), "tasks": n})
        return
    console.print(
        f"[bold]{n:,}[/] feedback tasks -> {output} (next: datamill feedback import PROJECT {output})"
    )


#: How the fake teacher misbehaves (FakeServer's keywords).
SERVER = OptionBlock(
    port=(Annotated[int, typer.Option("--port", "-p", help="Port (0 = a free one).")], 8000),
    latency=(Annotated[float, typer.Option("--latency", help="Seconds per answer.")], 0.0),
    rate_limit_rate=(Annotated[float, typer.Option("--rate-limit-rate", help="Share of 429 answers.")], 0.0),
    error_rate=(Annotated[float, typer.Option("--error-rate", help="Share of 500 answers.")], 0.0),
    malformed_rate=(
        Annotated[float, typer.Option("--malformed-rate", help="Share of broken JSON bodies.")],
        0.0,
    ),
    bad_json_rate=(
        Annotated[float, typer.Option("--bad-json-rate", help="Share of non-JSON content in JSON mode.")],
        0.0,
    ),
    empty_rate=(Annotated[float, typer.Option("--empty-rate", help="Share of empty answers.")], 0.0),
    truncate_rate=(
        Annotated[float, typer.Option("--truncate-rate", help="Share of finish_reason=length answers.")],
        0.0,
    ),
    slow_rate=(Annotated[float, typer.Option("--slow-rate", help="Share of slow answers.")], 0.0),
    slow_seconds=(
        Annotated[float, typer.Option("--slow-seconds", help="Extra delay of a slow answer.")],
        2.0,
    ),
    seed=(SeedOpt, 0),
)


@app.command("fake-server")
@SERVER
def fake_server(**server: Any) -> None:
    """Serve the offline fake OpenAI-compatible teacher (for demos and tests) until Ctrl-C."""
    from datamill.synthetic import FakeServer

    running = FakeServer(**server).start()
    console.print(
        f"fake teacher at [bold]{running.url}[/] (model 'fake-teacher'); Ctrl-C to stop", highlight=False
    )
    try:
        running.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        console.print(f"{running.stats.requests:,} requests served ({dict(running.stats.by_status)})")

"""`datamill feedback`: Human feedback (RLHF): the annotation web app, agreement, export to DPO/reward data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from datamill.cli._common import OUTPUT, JsonOpt, console, print_json

app = typer.Typer(
    help="Human feedback (RLHF): the annotation web app, agreement, export to DPO/reward data.",
    no_args_is_help=True,
)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="DATABASE_URL",
        help="Database URL: sqlite:///file.db (default datamill-feedback.db) or postgresql://user@host/db.",
    ),
]
ProjectArg = Annotated[str, typer.Argument(help="Project name or id.")]


def _db(url: str | None):  # noqa: ANN202
    from datamill.feedback.db import Database

    return Database(url)


def _kv(title: str, rows: dict[str, object]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows.items():
        table.add_row(k, escape(str(v)))  # names and paths are the user's text, not markup
    console.print(table)


@app.command()
def serve(
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (PostgreSQL only; SQLite uses one).")] = 1,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies",
            help="Always mark cookies Secure (the app is reached over https, e.g. through a TLS proxy).",
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Believe X-Forwarded-Proto/-For only from these proxy addresses (comma-separated, or '*'); "
            "default: no proxy headers are believed.",
        ),
    ] = None,
) -> None:
    """Run the annotation web app (first visit creates the admin). Behind a reverse proxy: --forwarded-allow-ips
    with the proxy's address, or --secure-cookies (docs/feedback.md, "Deployment behind a reverse proxy")."""
    import os

    from datamill.errors import require
    from datamill.feedback.app import proxy_options

    uvicorn = require("uvicorn", extra="feedback", purpose="the annotation web app")
    require("fastapi", extra="feedback", purpose="the annotation web app")
    from datamill.feedback.db import database_url

    url = database_url(db)
    proxy = proxy_options(forwarded_allow_ips)
    _db(url).dispose()  # migrate once, before serving
    console.print(
        f"datamill feedback on [bold]http://{escape(host)}:{port}[/] (database {escape(url.split('@')[-1])})"
    )
    if workers > 1 and not url.startswith("sqlite"):
        import secrets

        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("DATAMILL_FEEDBACK_SECRET", secrets.token_hex(32))  # one key for all workers
        if secure_cookies:
            os.environ["DATAMILL_FEEDBACK_SECURE_COOKIES"] = "1"
        uvicorn.run(
            "datamill.feedback.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
            **proxy,
        )
        return
    from datamill.feedback.app import create_app

    uvicorn.run(
        create_app(url, secure_cookies=True if secure_cookies else None),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        **proxy,
    )


@app.command()
def demo(
    db: DbOpt = None,
    prefix: Annotated[
        str, typer.Option(help="Project names are PREFIX-pairwise, PREFIX-rubric, PREFIX-rewrite.")
    ] = "demo",
    annotators: Annotated[int, typer.Option(help="Simulated annotators judging the pairwise project.")] = 2,
) -> None:
    """Seed demo projects (pairwise with gold, rubric, rewrite) and simulated judgements; then run serve."""
    from datamill.feedback.demo import seed_demo

    out = seed_demo(db, prefix=prefix, annotators=annotators)
    url = out["url"]
    _kv(
        "Demo seeded",
        {
            "database": url.split("@")[-1],
            "projects": ", ".join(out["projects"]),
            "new projects": ", ".join(out["created"]) or "- (already there)",
            "simulated judgements": out["judgements"],
        },
    )
    flag = "" if db is None else f" --db {db}"
    console.print(
        f"next: [bold]datamill feedback serve{escape(flag)}[/] and open http://127.0.0.1:8000 "
        "(the first visit creates the admin)"
    )


@app.command()
def init(
    db: DbOpt = None,
    username: Annotated[
        str | None, typer.Option("--username", "--admin", help="Also create this admin user.")
    ] = None,
    password: Annotated[
        str | None, typer.Option(help="The admin's password (prompted when omitted).")
    ] = None,
) -> None:
    """Create or migrate the database (and optionally the first admin)."""
    from datamill.feedback.service import create_user, record

    database = _db(db)
    created = None
    if username:
        pw = password or typer.prompt("password", hide_input=True, confirmation_prompt=True)
        created = create_user(database, username, pw, role="admin")
        record(database, None, "user.create", created["username"], role="admin")
    _kv(
        "Database ready",
        {"url": database.url.split("@")[-1], "admin": created["username"] if created else "-"},
    )


@app.command("create-user")
def create_user_cmd(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin, reviewer or annotator.")] = "annotator",
    password: Annotated[str | None, typer.Option(help="Password (prompted when omitted).")] = None,
    token: Annotated[bool, typer.Option("--token", help="Also create and print an API token.")] = False,
    db: DbOpt = None,
) -> None:
    """Create a user (and an API token for the Python client)."""
    from datamill.feedback.service import create_user, issue_api_token, record

    database = _db(db)
    pw = password or typer.prompt("password", hide_input=True, confirmation_prompt=True)
    user = create_user(database, username, pw, role=role)
    record(database, None, "user.create", user["username"], role=user["role"])
    rows: dict[str, object] = {"id": user["id"], "username": user["username"], "role": user["role"]}
    if token:
        new = issue_api_token(database, user["id"], name="cli")
        record(database, None, "token.create", user["username"], token_id=new["id"], expires_at=None)
        rows["api token"] = new["token"]
    _kv("User created", rows)


@app.command("create-project")
def create_project_cmd(
    name: Annotated[str, typer.Argument(help="Unique project name.")],
    task_type: Annotated[
        str,
        typer.Option(
            "--task-type",
            "--type",
            help="pairwise, ranking, rubric, rewrite, comment, harm or harm-pairwise (harmlessness).",
        ),
    ] = "pairwise",
    guidelines: Annotated[
        Path | None, typer.Option(help="Markdown file with the annotation guidelines.")
    ] = None,
    overlap: Annotated[int, typer.Option(help="Annotators per task.")] = 1,
    gold_rate: Annotated[float, typer.Option(help="Share of gold tasks mixed into each queue (0..1).")] = 0.0,
    criteria: Annotated[
        str | None, typer.Option(help="Rubric criteria or harm categories, comma-separated.")
    ] = None,
    scale: Annotated[int, typer.Option(help="Likert scale points for rubric tasks.")] = 5,
    db: DbOpt = None,
) -> None:
    """Create a project."""
    from datamill.errors import InputError
    from datamill.feedback.service import create_project, record

    text = ""
    if guidelines is not None:
        try:
            text = guidelines.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read guidelines: {exc}", path=str(guidelines)) from None
    database = _db(db)
    p = create_project(
        database,
        name,
        task_type=task_type,
        guidelines=text,
        overlap=overlap,
        gold_rate=gold_rate,
        criteria=[c for c in criteria.split(",")] if criteria else None,
        scale=scale,
    )
    record(database, None, "project.create", p["name"], project_id=p["id"], task_type=p["task_type"])
    _kv("Project created", {k: p[k] for k in ("id", "name", "task_type", "overlap", "gold_rate", "criteria")})


@app.command("import")
def import_cmd(
    project: ProjectArg,
    source: Annotated[
        Path, typer.Argument(help="JSONL(.gz/.zst), Parquet, or an HF datasets save_to_disk folder.")
    ],
    split: Annotated[str | None, typer.Option(help="Split of an HF DatasetDict.")] = None,
    teachers: Annotated[
        list[str] | None,
        typer.Option(
            "--teacher",
            help="Answer rows that have no responses with this OpenAI-compatible base URL (or local "
            "model path); repeat for one answer per teacher.",
        ),
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option(help="Model name of each --teacher URL (one, or one per teacher).")
    ] = None,
    samples: Annotated[
        int | None, typer.Option(help="Answers per teacher and row (default: what the task type needs).")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Import tasks: all rows or none (a bad row is reported with its line number)."""
    from datamill.errors import ConfigError
    from datamill.feedback.service import get_project, import_tasks, record
    from datamill.synthetic import make_teacher

    models = list(model or [])
    if teachers and len(models) not in (0, 1, len(teachers)):
        raise ConfigError(f"give one --model or one per --teacher ({len(teachers)}), got {len(models)}")
    models = models * len(teachers or ()) if len(models) == 1 else models
    answering = [make_teacher(t, model=models[i] if models else None) for i, t in enumerate(teachers or ())]
    database = _db(db)
    with console.status(f"importing {source}"):
        n = import_tasks(database, project, source, split=split, teachers=answering or None, samples=samples)
    record(database, None, "tasks.import", get_project(database, project)["name"], tasks=n, file=str(source))
    _kv("Import", {"project": project, "source": source, "tasks imported": f"{n:,}"})


@app.command()
def export(
    project: ProjectArg,
    output: Annotated[Path, typer.Option(*OUTPUT, help="Output file: .jsonl(.gz/.zst) or .parquet.")],
    format: Annotated[str, typer.Option("--format", "-f", help="dpo, reward, kto, sft or raw.")] = "dpo",
    policy: Annotated[str, typer.Option(help="Vote aggregation: majority or gold-weighted.")] = "majority",
    min_agreement: Annotated[
        float, typer.Option(help="Leave out tasks whose winning vote share is lower.")
    ] = 0.0,
    include_gold: Annotated[bool, typer.Option(help="Also export gold tasks.")] = False,
    db: DbOpt = None,
) -> None:
    """Export judgements as training data (DPO/TRL prompt-chosen-rejected, reward pairs, KTO, SFT, raw)."""
    from datamill.feedback.export import export as run_export
    from datamill.feedback.service import get_project, record

    database = _db(db)
    n = run_export(
        database,
        project,
        format,
        output,
        policy=policy,
        min_agreement=min_agreement,
        include_gold=include_gold,
    )
    record(
        database,
        None,
        "export",
        get_project(database, project)["name"],
        format=format,
        policy=policy,
        rows=n,
        output=str(output),
    )
    _kv(
        "Export",
        {
            "project": project,
            "format": format,
            "policy": policy,
            "min agreement": min_agreement,
            "rows": f"{n:,}",
            "output": output,
        },
    )


@app.command()
def stats(
    project: ProjectArg,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Agreement (Krippendorff's alpha, Fleiss' and Cohen's kappa) and per-annotator statistics."""
    from rich.table import Table

    from datamill.feedback.quality import agreement_report

    report = agreement_report(_db(db), project)
    if json_out:
        print_json(report)
        return
    rows: dict[str, object] = {
        "tasks (+gold)": f"{report['tasks']} (+{report['gold_tasks']})",
        "judgements": report["judgements"],
        "completed tasks": report["completed_tasks"],
        "skips": report["skips"],
    }
    for level, a in report["alpha"].items():
        rows[f"Krippendorff alpha ({level})"] = "n/a" if a is None else f"{a:.3f}"
    if report["fleiss"]:
        f = report["fleiss"]
        rows[f"Fleiss kappa ({f['tasks']} tasks x {f['raters_per_task']})"] = (
            "n/a" if f["kappa"] is None else f"{f['kappa']:.3f}"
        )
    _kv(escape(f"Project {report['project']} ({report['task_type']})"), rows)
    table = Table(title="Annotators", title_justify="left")
    for col in ("annotator", "judgements", "skips", "median s", "gold acc.", "agrees w/ majority"):
        table.add_column(col, justify="left" if col == "annotator" else "right")
    for a in report["annotators"]:
        table.add_row(
            escape(a["annotator"]),
            str(a["judgements"]),
            str(a["skips"]),
            str(a["median_seconds"]),
            "n/a" if a["gold_accuracy"] is None else f"{a['gold_accuracy']:.2f}",
            "n/a" if a["majority_agreement"] is None else f"{a['majority_agreement']:.2f}",
        )
    console.print(table)


# the team commands (members, tokens, audit log) register on this app
from datamill.cli import feedback_team  # noqa: E402, F401

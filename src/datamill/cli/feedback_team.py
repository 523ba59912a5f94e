"""`datamill feedback` team commands: project members, API tokens and the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from datamill.cli._common import OUTPUT, JsonOpt, console, print_json
from datamill.cli.feedback import DbOpt, ProjectArg, _db, _kv, app

__all__: list[str] = []


@app.command("add-member")
def add_member_cmd(
    project: ProjectArg,
    user: Annotated[list[str], typer.Argument(help="Username(s) or id(s) of annotators or reviewers.")],
    db: DbOpt = None,
) -> None:
    """Make users members of a project: they see it, take its tasks, read its guidelines (reviewers: its
    agreement and export). Admins see every project without it."""
    from datamill.feedback.service import add_member, get_project, record

    database = _db(db)
    name = get_project(database, project)["name"]
    rows: dict[str, object] = {}
    for u in user:
        out = add_member(database, project, u)
        rows[out["user"]] = "added" if out["added"] else "already a member"
        if out["added"]:
            record(database, None, "member.add", name, user=out["user"])
    _kv(f"Members of {project}", rows)


@app.command("remove-member")
def remove_member_cmd(
    project: ProjectArg,
    user: Annotated[list[str], typer.Argument(help="Username(s) or id(s) of members.")],
    db: DbOpt = None,
) -> None:
    """Remove members of a project; their open tasks there go back to the pool."""
    from datamill.feedback.service import get_project, record, remove_member

    database = _db(db)
    name = get_project(database, project)["name"]
    rows: dict[str, object] = {}
    for u in user:
        out = remove_member(database, project, u)
        rows[out["user"]] = f"removed ({out['released']} open tasks released)"
        record(database, None, "member.remove", name, user=out["user"], released=out["released"])
    _kv(f"Members of {project}", rows)


@app.command()
def members(project: ProjectArg, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """List the members of a project."""
    from rich.table import Table

    from datamill.feedback.service import list_members

    rows = list_members(_db(db), project)
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"Members of {escape(project)}", title_justify="left")
    for col in ("user", "role", "since"):
        table.add_column(col)
    for m in rows:
        table.add_row(escape(m["username"]), m["role"], m["since"][:16])
    console.print(table)


@app.command()
def audit(
    output: Annotated[
        Path | None,
        typer.Option(*OUTPUT, help="Write the whole log here (.jsonl or .csv) instead of a table."),
    ] = None,
    format: Annotated[
        str | None, typer.Option("--format", "-f", help="jsonl or csv (default: told by the file name).")
    ] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (e.g. member.add, export).")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The audit log of admin actions (users, roles, memberships, tokens, imports, exports, resolutions)."""
    from rich.table import Table

    from datamill.errors import ConfigError
    from datamill.feedback.service import export_audit, list_audit

    database = _db(db)
    if output is not None:
        n = export_audit(database, output, format=format, action=action)
        _kv("Audit log", {"events": f"{n:,}", "output": output})
        return
    if format is not None:
        raise ConfigError("--format needs --output (the table is printed otherwise)")
    events = list_audit(database, action=action, limit=None)
    if json_out:
        print_json(events)
        return
    table = Table(title="Audit log (newest first)", title_justify="left")
    for col in ("at (UTC)", "actor", "action", "target", "detail"):
        table.add_column(col)
    for e in events:
        table.add_row(
            e["at"][:19], escape(e["actor"]), e["action"], escape(e["target"]), escape(str(e["detail"]))
        )
    console.print(table)


@app.command()
def tokens(
    user: Annotated[str | None, typer.Option(help="Only this user's tokens (username).")] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List API tokens (never the secret): name, owner, created, expiry."""
    from rich.table import Table

    from datamill.feedback.service import list_api_tokens, user_by_name

    database = _db(db)
    rows = list_api_tokens(database, user_id=user_by_name(database, user).id if user else None)
    if json_out:
        print_json(rows)
        return
    table = Table(title="API tokens", title_justify="left")
    for col in ("id", "user", "name", "created", "expires"):
        table.add_column(col)
    for t in rows:
        expires = (t["expires_at"] or "never")[:16] + (" (expired)" if t["expired"] else "")
        table.add_row(str(t["id"]), escape(t["username"]), escape(t["name"]), t["created_at"][:16], expires)
    console.print(table)


@app.command("revoke-token")
def revoke_token_cmd(
    token_id: Annotated[int, typer.Argument(help="Id of the token (see `datamill feedback tokens`).")],
    db: DbOpt = None,
) -> None:
    """Revoke an API token: it stops working (on a running server within a few seconds)."""
    from datamill.feedback.service import record, revoke_api_token

    database = _db(db)
    out = revoke_api_token(database, token_id)
    record(database, None, "token.revoke", out["user_id"], token_id=token_id, name=out["name"])
    _kv("Token revoked", {"id": out["id"], "name": out["name"]})

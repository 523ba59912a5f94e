"""Agreement and disagreements: the stats and disagreements pages, resolutions, and their API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from datamill.feedback import service as svc
from datamill.feedback.routes.deps import ApiUser, Db, PageUser, RowId, check_form_csrf, need, page
from datamill.feedback.routes.forms import form_value

__all__ = ["ResolveIn", "router"]

router = APIRouter()


class ResolveIn(BaseModel):
    value: dict[str, Any]
    note: str = Field(default="", max_length=5000)


def _charts(report: dict[str, Any], seconds: list[float]) -> list[str]:
    """The stats page's SVG charts of an agreement report and the seconds spent per judgement."""
    from datamill.feedback.plots import svg_bars, svg_histogram

    ann = report["annotators"]
    return [
        svg_bars(
            [(k, float(v)) for k, v in report["label_counts"].items()],
            title="Label distribution",
            fmt="{:.0f}",
        ),
        svg_bars(
            [(a["annotator"], float(a["judgements"])) for a in ann],
            title="Judgements per annotator",
            fmt="{:.0f}",
        ),
        svg_bars(
            [(a["annotator"], a["gold_accuracy"]) for a in ann if a["gold_judged"]],
            title="Gold accuracy",
            vmax=1.0,
            fmt="{:.2f}",
        ),
        svg_bars(
            [(f"{q['a']}~{q['b']}", max(q["kappa"] or 0.0, 0.0)) for q in report["pairs"]],
            title="Cohen's kappa per annotator pair",
            vmax=1.0,
            fmt="{:.2f}",
        ),
        svg_histogram(seconds, title="Seconds per judgement"),
    ]


@router.get("/projects/{project}/stats", include_in_schema=False)
def stats_page(request: Request, project: str, me: PageUser, db: Db) -> Response:
    from datamill.feedback.quality import agreement_report, load_project

    need(me[0], "reviewer")
    p = svc.project_for(db, me[0], project)
    data = load_project(db, p["id"])
    report = agreement_report(db, p["id"], data=data)
    charts = _charts(report, [j.seconds for j in data["judgements"]])
    return page(
        request, "stats.html", {"user": me[0], "csrf": me[1], "p": p, "report": report, "charts": charts}
    )


@router.get("/projects/{project}/disagreements", include_in_schema=False)
def disagreements_page(request: Request, project: str, me: PageUser, db: Db) -> Response:
    from datamill.feedback.quality import disagreements

    need(me[0], "reviewer")
    p = svc.project_for(db, me[0], project)
    return page(
        request,
        "disagreements.html",
        {"user": me[0], "csrf": me[1], "p": p, "items": disagreements(db, p["id"]), "letters": "ABCDEFGHIJ"},
    )


@router.post("/projects/{project}/tasks/{task_id}/resolve", include_in_schema=False)
async def resolve_post(request: Request, project: str, task_id: RowId, me: PageUser, db: Db) -> Response:
    need(me[0], "admin")
    form = await request.form()
    check_form_csrf(me[1], str(form.get("csrf_token", "")))
    p = svc.get_project(db, project)
    out = svc.resolve(db, me[0].id, task_id, value=form_value(p, form), note=str(form.get("note", "")))
    svc.record(db, me[0], "resolution", p["name"], task_id=task_id, value=out["value"])
    return RedirectResponse(f"/projects/{p['id']}/disagreements", status_code=303)


@router.get("/api/projects/{project}/agreement", tags=["quality"])
def api_agreement(project: str, user: ApiUser, db: Db) -> dict[str, Any]:
    """Agreement (Krippendorff, Fleiss, Cohen per pair) and per-annotator stats (reviewer)."""
    from datamill.feedback.quality import agreement_report

    need(user, "reviewer")
    return agreement_report(db, svc.project_for(db, user, project)["id"])


@router.get("/api/projects/{project}/disagreements", tags=["quality"])
def api_disagreements(project: str, user: ApiUser, db: Db) -> list[dict[str, Any]]:
    """Tasks whose judgements disagree (reviewer)."""
    from datamill.feedback.quality import disagreements

    need(user, "reviewer")
    return disagreements(db, svc.project_for(db, user, project)["id"])


@router.post("/api/tasks/{task_id}/resolution", tags=["quality"])
def api_resolve(task_id: RowId, body: ResolveIn, user: ApiUser, db: Db) -> dict[str, Any]:
    """Set the final answer of a disputed task (admin); export uses it over the votes."""
    need(user, "admin")
    out = svc.resolve(db, user.id, task_id, value=body.value, note=body.note)
    svc.record(
        db,
        user,
        "resolution",
        svc.get_project(db, out["project_id"])["name"],
        task_id=task_id,
        value=out["value"],
    )
    return out

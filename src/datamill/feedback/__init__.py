"""datamill.feedback: the human-feedback (RLHF) annotation app, agreement statistics and export.

Light to import: the web app, database and client load their dependencies when first used.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Client",
    "Database",
    "add_tasks",
    "agreement_report",
    "cohen_kappa",
    "create_app",
    "create_project",
    "create_user",
    "disagreements",
    "export",
    "export_preferences",
    "export_rows",
    "fill_responses",
    "fleiss_kappa",
    "import_tasks",
    "krippendorff_alpha",
    "next_task",
    "render_markdown",
    "seed_demo",
    "simulate_project",
    "submit",
]

_WHERE = {
    "Client": "client",
    "Database": "db",
    "add_tasks": "service",
    "agreement_report": "quality",
    "cohen_kappa": "agreement",
    "create_app": "app",
    "create_project": "service",
    "create_user": "service",
    "disagreements": "quality",
    "export": "export",
    "export_preferences": "export",
    "export_rows": "export",
    "fill_responses": "fill",
    "fleiss_kappa": "agreement",
    "import_tasks": "service",
    "krippendorff_alpha": "agreement",
    "next_task": "service",
    "render_markdown": "render",
    "seed_demo": "demo",
    "simulate_project": "simulate",
    "submit": "service",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"datamill.feedback.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'datamill.feedback' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

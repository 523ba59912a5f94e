"""The web app's routes, one APIRouter per resource, each handler a few lines over :mod:`datamill.feedback.service`.

deps      the database, the current user (API token or session), role and CSRF checks, page rendering
errors    the one handler mapping datamill's error hierarchy to HTTP
auth      first run, login, logout; /api/health, /api/login, /api/me
users     users and API tokens
projects  projects, the overview page, task import
tasks     annotation: the annotate page, the queue, judgements, skips
quality   agreement, disagreements, resolutions
export    the JSONL download and /api/projects/{project}/export
pages     the project list and the API documentation
"""

from __future__ import annotations

from datamill.feedback.routes import auth, export, pages, projects, quality, tasks, users

__all__ = ["ROUTERS"]

# in this order the OpenAPI spec (and the /docs page) lists the API as it always has
ROUTERS = [
    auth.router,
    users.router,
    projects.router,
    tasks.router,
    quality.router,
    export.router,
    pages.router,
]

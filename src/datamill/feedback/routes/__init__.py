"""The web app's routes, one APIRouter per resource, each handler a few lines over :mod:`datamill.feedback.service`.

deps      the database, the current user (API token or session), role and CSRF checks, page rendering
errors    the one handler mapping datamill's error hierarchy to HTTP
auth      first run, login, logout; /api/health, /api/login, /api/me
users     users and roles
tokens    API tokens: create with an expiry, list, revoke
members   project membership (admin)
projects  projects, the overview page, task import
tasks     annotation: the annotate page, the queue, judgements, skips
quality   agreement, disagreements, resolutions
export    the JSONL download and /api/projects/{project}/export
audit     the audit log of admin actions
pages     the project list and the API documentation
"""

from __future__ import annotations

from datamill.feedback.routes import (
    audit,
    auth,
    export,
    members,
    pages,
    projects,
    quality,
    tasks,
    tokens,
    users,
)

__all__ = ["ROUTERS"]

# in this order the OpenAPI spec (and the /docs page) lists the API as it always has
ROUTERS = [
    auth.router,
    users.router,
    tokens.router,
    projects.router,
    members.router,
    tasks.router,
    quality.router,
    export.router,
    audit.router,
    pages.router,
]

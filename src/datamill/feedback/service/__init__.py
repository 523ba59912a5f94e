"""The feedback app's library: users, projects, task import, queues, judgements, resolutions.

Every web route and CLI verb is one call here; ``datamill.feedback.service`` exports them all, one module
per resource:

    users       users, password checks, browser sessions, API tokens
    projects    create, look up, list, progress per annotator
    tasks       import: rows from files or datasets, parsed per task type, all or nothing
    queue       an annotator's next task, submit, skip
    judgements  stored judgements and an admin's resolution
    values      judgement values: validation, display order, gold check
"""

from __future__ import annotations

from datamill.errors import ConflictError, FeedbackError, ForbiddenError, NotFoundError
from datamill.feedback.service.judgements import get_judgement_for, judgement_dict, list_judgements, resolve
from datamill.feedback.service.projects import (
    DEFAULT_CRITERIA,
    create_project,
    get_project,
    list_projects,
    project_dict,
    project_progress,
)
from datamill.feedback.service.queue import get_task_for, next_task, skip, submit, task_view
from datamill.feedback.service.tasks import (
    add_tasks,
    import_tasks,
    import_upload,
    iter_task_rows,
    parse_task_row,
)
from datamill.feedback.service.users import (
    ARGON2_PARAMS,
    SESSION_DAYS,
    TOKEN_CACHE_SECONDS,
    authenticate,
    cached_token_user,
    create_api_token,
    create_session,
    create_user,
    delete_session,
    has_admin,
    has_users,
    list_users,
    session_user,
    token_user,
    user_by_name,
)
from datamill.feedback.service.values import check_value, from_display, gold_correct

__all__ = [
    "ARGON2_PARAMS",
    "ConflictError",
    "DEFAULT_CRITERIA",
    "FeedbackError",
    "ForbiddenError",
    "NotFoundError",
    "SESSION_DAYS",
    "TOKEN_CACHE_SECONDS",
    "add_tasks",
    "authenticate",
    "cached_token_user",
    "check_value",
    "create_api_token",
    "create_project",
    "create_session",
    "create_user",
    "delete_session",
    "from_display",
    "get_judgement_for",
    "get_project",
    "get_task_for",
    "gold_correct",
    "has_admin",
    "has_users",
    "import_tasks",
    "import_upload",
    "iter_task_rows",
    "judgement_dict",
    "list_judgements",
    "list_projects",
    "list_users",
    "next_task",
    "parse_task_row",
    "project_dict",
    "project_progress",
    "resolve",
    "session_user",
    "skip",
    "submit",
    "task_view",
    "token_user",
    "user_by_name",
]

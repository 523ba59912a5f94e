"""The feedback app's library: users, projects, task import, queues, judgements, resolutions.

Every web route and CLI verb is one call here; ``datamill.feedback.service`` exports them all, one module
per resource:

    users       users, password checks, browser sessions, API tokens
    projects    create, look up, list, progress per annotator
    tasks       import: rows from files or datasets, parsed per task type, all or nothing
    queue       an annotator's next task, submit, skip
    members     project membership: who may see, annotate and export which project
    judgements  stored judgements and an admin's resolution
    audit       the audit log of admin actions
    values      judgement values: validation, display order, gold check
"""

from __future__ import annotations

from datamill.errors import ConflictError, FeedbackError, ForbiddenError, NotFoundError
from datamill.feedback.service.audit import (
    AUDIT_ACTIONS,
    AUDIT_FORMATS,
    audit_lines,
    cli_actor,
    export_audit,
    list_audit,
    record,
)
from datamill.feedback.service.judgements import get_judgement_for, judgement_dict, list_judgements, resolve
from datamill.feedback.service.members import (
    ACCESS_CACHE_SECONDS,
    add_member,
    can_access,
    check_access,
    forget_access,
    list_members,
    project_for,
    remove_member,
    visible_projects,
)
from datamill.feedback.service.projects import (
    DEFAULT_CRITERIA,
    create_project,
    get_project,
    list_projects,
    project_dict,
    project_progress,
    queue_progress,
)
from datamill.feedback.service.queue import (
    can_claim,
    get_task_for,
    next_task,
    open_task,
    skip,
    submit,
    task_view,
)
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
    issue_api_token,
    list_api_tokens,
    list_users,
    revoke_api_token,
    session_user,
    token_user,
    update_user,
    user_by_name,
)
from datamill.feedback.service.values import check_value, from_display, gold_correct

__all__ = [
    "ACCESS_CACHE_SECONDS",
    "ARGON2_PARAMS",
    "AUDIT_ACTIONS",
    "AUDIT_FORMATS",
    "ConflictError",
    "DEFAULT_CRITERIA",
    "FeedbackError",
    "ForbiddenError",
    "NotFoundError",
    "SESSION_DAYS",
    "TOKEN_CACHE_SECONDS",
    "add_member",
    "add_tasks",
    "audit_lines",
    "authenticate",
    "cached_token_user",
    "can_access",
    "can_claim",
    "check_access",
    "check_value",
    "cli_actor",
    "create_api_token",
    "create_project",
    "create_session",
    "create_user",
    "delete_session",
    "export_audit",
    "forget_access",
    "from_display",
    "get_judgement_for",
    "get_project",
    "get_task_for",
    "gold_correct",
    "has_admin",
    "has_users",
    "import_tasks",
    "import_upload",
    "issue_api_token",
    "iter_task_rows",
    "judgement_dict",
    "list_api_tokens",
    "list_audit",
    "list_judgements",
    "list_members",
    "list_projects",
    "list_users",
    "next_task",
    "open_task",
    "parse_task_row",
    "project_dict",
    "project_for",
    "project_progress",
    "queue_progress",
    "record",
    "remove_member",
    "resolve",
    "revoke_api_token",
    "session_user",
    "skip",
    "submit",
    "task_view",
    "token_user",
    "update_user",
    "user_by_name",
    "visible_projects",
]

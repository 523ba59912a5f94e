"""The one error hierarchy of datamill.

    DatamillError                  anything datamill raises on purpose
    ├── InputError                 bad input data: names file, line/record and reason
    ├── ConfigError                bad parameters, recipes or options
    ├── MissingDependencyError     an optional extra is not installed
    ├── TeacherError               a teacher model failed past its retries
    ├── InvalidOutput              a teacher answer a task cannot use (``reason``: the counter key); re-asked
    ├── StorageError               a database, cache or output folder problem
    └── FeedbackError              a request the feedback app refuses (``status``: its HTTP status)
        ├── NotFoundError          404: no such user, project, task or judgement
        ├── ForbiddenError         403: the role, the queue or the CSRF token does not allow it
        ├── ConflictError          409: already exists, already judged, taken under contention
        ├── UnauthorizedError      401: no valid session or API token
        │   └── NeedLogin          a page without a session: redirect to the login (or first-run) page
        ├── TooManyRequestsError   429: too many login attempts (``retry_after`` seconds)
        └── BusyError              503: every password-hashing slot is taken (``retry_after`` seconds)

The CLI prints any of these as one red line and exits 1; the web apps map them to JSON
``{"error": ..., "status": ...}``. An error about parameters names them in ``params`` (spelled as
in the Python call, e.g. ``ConfigError("min_score must be ...", params="min_score")``); a message
may also spell a keyword as Python does (``overwrite=True``, ``format=``). The CLI says its own
flags instead (``--min-lang-score``, ``--overwrite``, ``--format``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

__all__ = [
    "BusyError",
    "ConfigError",
    "ConflictError",
    "DatamillError",
    "FeedbackError",
    "ForbiddenError",
    "InputError",
    "InvalidOutput",
    "MissingDependencyError",
    "NeedLogin",
    "NotFoundError",
    "StorageError",
    "TeacherError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "require",
]


class DatamillError(Exception):
    """Base class of every error datamill raises on purpose; ``params``: the parameters it is about."""

    params: tuple[str, ...] = ()

    def __init__(self, *args: object, params: str | Iterable[str] = ()) -> None:
        super().__init__(*args)
        if params:
            self.params = (params,) if isinstance(params, str) else tuple(params)


class InputError(DatamillError):
    """Input data is malformed; the message names where (``file:line``) and why."""

    def __init__(
        self,
        reason: str,
        *,
        path: str | None = None,
        line: int | None = None,
        params: str | Iterable[str] = (),
    ) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{reason}", params=params)


class ConfigError(DatamillError, ValueError):
    """A parameter, option or recipe is invalid; the message names the allowed values."""


class MissingDependencyError(DatamillError, ImportError):
    """An optional dependency is missing; the message says which extra installs it."""


class TeacherError(DatamillError):
    """A teacher model request failed for good (after retries)."""


class InvalidOutput(DatamillError):
    """Raised by a job's ``parse`` when a teacher answer is unusable; ``reason`` is the counter key
    (``not_json``, ``schema``, ``truncated``...). The synthetic runner re-asks, then rejects the job."""

    def __init__(self, reason: str, detail: str = "", *, params: str | Iterable[str] = ()) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason, params=params)
        self.reason, self.detail = reason, detail


class StorageError(DatamillError):
    """A database, cache or output folder cannot be used."""


class FeedbackError(DatamillError):
    """A request the feedback app refuses; ``status`` is its HTTP status.

    Every subclass names its status: one missing (or not an HTTP error code) fails when the class is defined.
    """

    status: ClassVar[int] = 400

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "status" not in cls.__dict__ and cls.__base__ is FeedbackError:
            raise TypeError(f"{cls.__name__} must set its HTTP status (class attribute status = 4xx/5xx)")
        if not isinstance(cls.status, int) or not 400 <= cls.status <= 599:
            raise TypeError(f"{cls.__name__}.status must be an HTTP error code 400-599, got {cls.status!r}")


class NotFoundError(FeedbackError):
    """No such user, project, task or judgement."""

    status = 404


class ForbiddenError(FeedbackError):
    """The user's role, queue or CSRF token does not allow the request."""

    status = 403


class ConflictError(FeedbackError):
    """The request clashes with what is stored (a duplicate, a task already judged or skipped)."""

    status = 409


class UnauthorizedError(FeedbackError):
    """No valid session cookie or API token came with the request."""

    status = 401


class NeedLogin(UnauthorizedError):
    """A page needs a logged-in user: the app redirects to the login (or first-run) page."""


class TooManyRequestsError(FeedbackError):
    """Too many attempts from one client address or at one account; answered with ``Retry-After``."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(int(retry_after), 1)


class BusyError(FeedbackError):
    """The server is at its bound of concurrent work (password hashing); answered with ``Retry-After``."""

    status = 503

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(int(retry_after), 1)


def require(
    module: str,
    *,
    extra: str | None,
    purpose: str,
    package: str | None = None,  # noqa: ANN201
    then: str = "",
):
    """Import and return ``module``, or raise :class:`MissingDependencyError` naming the extra that installs
    it, or (``extra=None``: no extra does) the package itself; ``then`` adds a further step."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pkg = package or module.split(".")[0]
        how = f"pip install 'datamill[{extra}]'" if extra else f"pip install {pkg}"
        raise MissingDependencyError(f"Install {pkg} to use {purpose}: {how}{then}") from exc

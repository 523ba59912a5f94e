"""``datamill.feedback.Client``: the Python SDK of the feedback app's JSON API (httpx, API token)."""

from __future__ import annotations

import uuid
from typing import Any

from datamill.errors import DatamillError, InputError
from datamill.feedback.service import ConflictError, ForbiddenError, NotFoundError

__all__ = ["Client"]


class Client:
    """Talk to a running ``datamill feedback serve``.

    Args:
        url: base URL of the app.
        token: an API token (``datamill feedback create-user --token`` or the /tokens page); or give
            ``username`` and ``password`` to get one.
        timeout: seconds per request.
        http: an httpx-compatible client to use instead of a new ``httpx.Client`` (tests pass a TestClient).

    ``submit`` is safe to retry: it sends one ``client_key`` for all attempts, and the server stores the
    judgement exactly once.
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        http: Any = None,
    ) -> None:
        import httpx

        self.url = url.rstrip("/")
        self._http = http if http is not None else httpx.Client(base_url=self.url, timeout=timeout)
        self._own = http is None
        self.token = token
        if token is None:
            if username is None or password is None:
                raise InputError("give token= or username= and password=")
            self.token = self._call("POST", "/api/login", json={"username": username, "password": password})[
                "token"
            ]

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            r = self._http.request(method, path, headers=headers, **kw)
        except httpx.TransportError as exc:
            raise DatamillError(f"cannot reach the feedback app at {self.url}: {exc}") from exc
        if r.status_code >= 400:
            try:
                msg = r.json().get("error") or r.json().get("detail")
            except ValueError:
                msg = r.text[:300]
            cls = {
                401: ForbiddenError,
                403: ForbiddenError,
                404: NotFoundError,
                409: ConflictError,
                422: InputError,
            }.get(r.status_code, DatamillError)
            raise cls(f"HTTP {r.status_code} on {method} {path}: {msg}")
        return r.json()

    def me(self) -> dict[str, Any]:
        return self._call("GET", "/api/me")

    def projects(self) -> list[dict[str, Any]]:
        return self._call("GET", "/api/projects")

    def project(self, project: int | str) -> dict[str, Any]:
        return self._call("GET", f"/api/projects/{project}")

    def create_project(
        self,
        name: str,
        *,
        task_type: str = "pairwise",
        guidelines: str = "",
        overlap: int = 1,
        gold_rate: float = 0.0,
        criteria: list[str] | None = None,
        scale: int = 5,
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            "/api/projects",
            json={
                "name": name,
                "task_type": task_type,
                "guidelines": guidelines,
                "overlap": overlap,
                "gold_rate": gold_rate,
                "criteria": criteria,
                "scale": scale,
            },
        )

    def create_user(self, username: str, password: str, *, role: str = "annotator") -> dict[str, Any]:
        return self._call(
            "POST", "/api/users", json={"username": username, "password": password, "role": role}
        )

    def members(self, project: int | str) -> list[dict[str, Any]]:
        """The project's members (admin)."""
        return self._call("GET", f"/api/projects/{project}/members")

    def add_member(self, project: int | str, user: int | str) -> dict[str, Any]:
        """Make a user (username or id) a member of the project (admin)."""
        return self._call("POST", f"/api/projects/{project}/members", json={"user": str(user)})

    def remove_member(self, project: int | str, user: int | str) -> dict[str, Any]:
        """Remove a member (admin); their open tasks go back to the pool."""
        return self._call("DELETE", f"/api/projects/{project}/members/{user}")

    def add_tasks(self, project: int | str, tasks: list[dict[str, Any]]) -> int:
        """Add tasks (admin), all or nothing; returns how many."""
        return self._call("POST", f"/api/projects/{project}/tasks", json={"tasks": tasks})["imported"]

    def next_task(self, project: int | str) -> dict[str, Any] | None:
        """Your current or next task (responses in your display order), or None when your queue is empty."""
        return self._call("GET", f"/api/projects/{project}/next")["task"]

    def submit(
        self,
        task_id: int,
        value: dict[str, Any],
        *,
        comment: str = "",
        client_key: str | None = None,
        displayed: bool = False,
        retries: int = 3,
    ) -> dict[str, Any]:
        """Submit a judgement; retried on network errors with the same ``client_key`` (never duplicated)."""
        key = client_key or uuid.uuid4().hex
        body = {"client_key": key, "value": value, "comment": comment, "displayed": displayed}
        for attempt in range(retries + 1):
            try:
                return self._call("POST", f"/api/tasks/{task_id}/judgements", json=body)
            except DatamillError as exc:
                if attempt == retries or "cannot reach" not in str(exc):
                    raise
        raise AssertionError("unreachable")

    def skip(self, task_id: int, reason: str) -> None:
        self._call("POST", f"/api/tasks/{task_id}/skip", json={"reason": reason})

    def judgements(self, project: int | str) -> list[dict[str, Any]]:
        return self._call("GET", f"/api/projects/{project}/judgements")

    def agreement(self, project: int | str) -> dict[str, Any]:
        return self._call("GET", f"/api/projects/{project}/agreement")

    def disagreements(self, project: int | str) -> list[dict[str, Any]]:
        return self._call("GET", f"/api/projects/{project}/disagreements")

    def resolve(self, task_id: int, value: dict[str, Any], *, note: str = "") -> dict[str, Any]:
        return self._call("POST", f"/api/tasks/{task_id}/resolution", json={"value": value, "note": note})

    def export(
        self, project: int | str, *, format: str = "dpo", policy: str = "majority", min_agreement: float = 0.0
    ) -> list[dict[str, Any]]:
        return self._call(
            "GET",
            f"/api/projects/{project}/export",
            params={"format": format, "policy": policy, "min_agreement": min_agreement},
        )

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The input guard: one place that refuses (422) what no route may store or echo, before any route runs.

A NUL anywhere in the path or query, a ``%00`` in a urlencoded form, and JSON bodies holding NaN/Infinity
literals, numbers past a float, NUL characters or lone surrogates (:mod:`datamill.feedback.textsafe`) are
answered with a 422 naming the problem (never echoing the value), on every route, the same on SQLite and
PostgreSQL. Uploaded files are checked where they are parsed (task import), not here.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from datamill.feedback.textsafe import text_problem

__all__ = ["InputGuard", "json_body_problem"]

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# what a body needs to hold for a full check: an escape (a NUL or a surrogate come only as \\u escapes), a
# constant, or a number that may overflow a float (a 3-digit exponent or a 100-digit run)
_SUSPECT = re.compile(rb"\\u|NaN|Infinity|[eE][+-]?\d{3}|\d{100}")


class _Refused(ValueError):
    pass


def _constant(name: str) -> Any:
    raise _Refused(f"the JSON body holds {name}, which JSON has no place for; send a number or null")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the JSON body holds a number past a 64-bit float ({text[:40]}...)")
    return value


def json_body_problem(body: bytes) -> str | None:
    """Why a JSON request body must be refused, or None (malformed JSON is left to the route's 422)."""
    if not _SUSPECT.search(body):  # the common case: nothing to parse twice
        return None
    try:
        value = json.loads(body, parse_constant=_constant, parse_float=_float)
    except _Refused as exc:
        return str(exc)
    except ValueError:  # not JSON (or not UTF-8): the route answers it
        return None
    return text_problem(value, "body")


def _query_problem(raw: bytes) -> str | None:
    if b"\x00" in raw or b"%00" in raw:
        return "contains a NUL character"
    return None


class InputGuard:
    """Pure ASGI middleware refusing requests whose path, query or JSON/form body cannot be stored."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        why = None
        if "\x00" in scope.get("path", ""):
            why = "the URL path contains a NUL character"
        elif _query_problem(scope.get("query_string", b"")):
            why = "the query string contains a NUL character"
        if why is None and scope["method"] in _BODY_METHODS:
            kind = _content_type(scope)
            if kind == "application/json" or kind.endswith("+json"):
                body, receive = await _buffer(receive)
                why = json_body_problem(body)
            elif kind == "application/x-www-form-urlencoded":
                body, receive = await _buffer(receive)
                why = "the form contains a NUL character" if _query_problem(body.lower()) else None
        if why is not None:
            await _refuse(send, why)
            return
        await self.app(scope, receive, send)


def _content_type(scope: Any) -> str:
    for k, v in scope.get("headers", ()):
        if k == b"content-type":
            return v.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


async def _buffer(receive: Any) -> tuple[bytes, Any]:
    """The whole request body, and a ``receive`` that hands it to the app as one message."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nothing to check

            async def gone(last: Any = message) -> Any:
                return last

            return b"", gone
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _refuse(send: Any, why: str) -> None:
    payload = json.dumps({"error": why, "status": 422}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

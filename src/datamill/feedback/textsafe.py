"""Text both databases store and every JSON encoder writes: refuse what cannot be kept, scrub what was kept.

UTF-8 has no lone surrogates (``"\\ud800"`` from a JSON escape), PostgreSQL text has no NUL, and JSON has no
NaN or Infinity. Input carrying any of them is refused (422) before it is stored, on SQLite and PostgreSQL
alike; values stored before this check existed are scrubbed on the way out (a lone surrogate becomes U+FFFD,
a non-finite number null), so one bad row can no longer break a project's listings and exports.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["check_text", "scrub", "text_problem"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def _str_problem(s: str) -> str | None:
    if "\x00" in s:
        return "contains a NUL character"
    if not s.isascii() and _SURROGATE.search(s):
        return "contains a lone surrogate (text that is not valid Unicode)"
    return None


def text_problem(value: Any, where: str = "value") -> str | None:
    """What makes ``value`` (a JSON-like value, walked recursively) unstorable, naming where; or None."""
    if isinstance(value, str):
        why = _str_problem(value)
        return f"{where} {why}" if why else None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where} is {value!r} (JSON has no NaN or Infinity)"
    if isinstance(value, dict):
        for k, v in value.items():
            why = text_problem(k, f"a key of {where}") if isinstance(k, str) else None
            why = why or text_problem(v, f"{where}.{k}")
            if why:
                return why
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            why = text_problem(v, f"{where}[{i}]")
            if why:
                return why
    return None


def check_text(**values: Any) -> None:
    """Raise InputError (422) naming the first of ``values`` (name=value) that :func:`text_problem` refuses."""
    from datamill.errors import InputError

    for name, value in values.items():
        why = text_problem(value, name)
        if why:
            raise InputError(why)


def scrub(value: Any) -> Any:
    """``value`` with lone surrogates replaced by U+FFFD and non-finite numbers by None (unchanged otherwise)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if not value.isascii() else value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value

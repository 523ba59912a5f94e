"""PII redaction: emails, phone numbers, IPv4/IPv6 addresses, Luhn-checked credit-card numbers."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Any, Literal

from datamill.errors import ConfigError, require
from datamill.pipeline.step import Mapper
from datamill.records import Document

__all__ = ["PII_TYPES", "PiiRedactor", "luhn_ok", "redact_pii"]

PII_TYPES = ("email", "phone", "ip_address", "credit_card")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w+])(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}"
    r"(?![\w])(?![ .-]\d)"
)
_IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])"
)
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_DEFAULT_REPLACEMENTS = {
    "email": "<EMAIL>",
    "phone": "<PHONE>",
    "ip_address": "<IP_ADDRESS>",
    "credit_card": "<CREDIT_CARD>",
}
# documentation and private ranges are not personal: 127.0.0.1, 192.168.x.x, 10.x.x.x stay
_KEEP_IPS = ("127.", "0.", "10.", "192.168.", "255.")


def luhn_ok(digits: str) -> bool:
    """True if the digit string passes the Luhn checksum (and has 13-19 digits)."""
    ds = [int(c) for c in digits if c.isdigit()]
    if not 13 <= len(ds) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(ds)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _ipv6_ok(s: str) -> bool:
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return s.count(":") >= 2 and not re.fullmatch(r"[\d:]+", s)  # not a time like 12:30:45


def redact_pii(
    text: str, *, types: tuple[str, ...] = PII_TYPES, replacements: dict[str, str] | None = None
) -> tuple[str, Counter[str]]:
    """(redacted text, counts per PII type). Card numbers must pass Luhn; phones need 9-15 digits."""
    rep = {**_DEFAULT_REPLACEMENTS, **(replacements or {})}
    counts: Counter[str] = Counter()

    def sub(kind: str, pattern: re.Pattern[str], ok=lambda s: True) -> None:  # noqa: ANN001
        nonlocal text

        def one(m: re.Match[str]) -> str:
            if not ok(m.group(0)):
                return m.group(0)
            counts[kind] += 1
            return rep[kind]

        text = pattern.sub(one, text)

    if "email" in types:
        sub("email", _EMAIL)
    if "credit_card" in types:
        sub("credit_card", _CARD, luhn_ok)
    if "ip_address" in types:
        sub("ip_address", _IPV4, lambda s: not s.startswith(_KEEP_IPS))
        sub("ip_address", _IPV6, _ipv6_ok)
    if "phone" in types:
        sub("phone", _PHONE, lambda s: 9 <= sum(c.isdigit() for c in s) <= 15)
    return text, counts


class PiiRedactor(Mapper[Document]):
    """Replace PII with placeholders (``<EMAIL>``, ``<PHONE>``, ``<IP_ADDRESS>``, ``<CREDIT_CARD>``).

    Counts per type go to the step counters and to ``metadata["pii"]``. ``engine="presidio"`` uses
    Microsoft Presidio's analyzer instead of the regexes (install ``presidio-analyzer`` and a spaCy
    model yourself). Never drops a document.
    """

    name = "pretrain.pii"

    def __init__(
        self,
        *,
        types: list[str] | None = None,
        engine: Literal["regex", "presidio"] = "regex",
        replacements: dict[str, str] | None = None,
    ) -> None:
        self.types = tuple(types or PII_TYPES)
        bad = [t for t in self.types if t not in PII_TYPES]
        if bad:
            raise ConfigError(f"unknown PII types {bad!r}; allowed: {', '.join(PII_TYPES)}")
        if engine not in ("regex", "presidio"):
            raise ConfigError(f"engine must be 'regex' or 'presidio', got {engine!r}")
        self.engine, self.replacements = engine, replacements or {}
        self._analyzer: Any = None

    def _presidio(self, text: str) -> tuple[str, Counter[str]]:
        if self._analyzer is None:
            # no datamill extra installs it: presidio also needs a spaCy model, a download of its own
            self._analyzer = require(
                "presidio_analyzer",
                extra=None,
                purpose="PII with presidio",
                package="presidio-analyzer",
                then=" and a spaCy English model (python -m spacy download en_core_web_lg)",
            ).AnalyzerEngine()
        names = {
            "email": "EMAIL_ADDRESS",
            "phone": "PHONE_NUMBER",
            "ip_address": "IP_ADDRESS",
            "credit_card": "CREDIT_CARD",
        }
        back = {v: k for k, v in names.items()}
        found = self._analyzer.analyze(text=text, entities=[names[t] for t in self.types], language="en")
        counts: Counter[str] = Counter()
        rep = {**_DEFAULT_REPLACEMENTS, **self.replacements}
        for r in sorted(found, key=lambda r: r.start, reverse=True):
            kind = back[r.entity_type]
            counts[kind] += 1
            text = text[: r.start] + rep[kind] + text[r.end :]
        return text, counts

    def apply(self, rec: Document) -> Document:
        if self.engine == "presidio":
            text, counts = self._presidio(rec.text)
        else:
            text, counts = redact_pii(rec.text, types=self.types, replacements=self.replacements)
        if counts:
            rec.text = text
            rec.metadata["pii"] = dict(sorted(counts.items()))
            self.stats.counters.update(counts)
            self.stats.counters["documents_redacted"] += 1
        return rec

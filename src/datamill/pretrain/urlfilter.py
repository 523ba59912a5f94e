"""``pretrain.url_filter``: drop documents whose URL is on a blocklist (domains, substrings, your function)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from urllib.parse import urlsplit

from datamill.errors import ConfigError
from datamill.pipeline.step import Filter
from datamill.records import Document

__all__ = ["UrlFilter"]


class UrlFilter(Filter[Document]):
    """Drop documents whose URL (``metadata["url"]``) is blocked.

    Args:
        domains: blocked domains; subdomains are blocked too.
        domains_file: a file with one blocked domain per line (``#`` comments allowed).
        substrings: blocked URL substrings (lowercase match).
        hook: ``"package.module:function"`` taking the URL and returning True to block it.

    Drop reasons: ``blocked_domain``, ``blocked_url_substring``, ``blocked_by_hook``.
    """

    name = "pretrain.url_filter"

    def __init__(
        self,
        *,
        domains: list[str] | None = None,
        domains_file: str | None = None,
        substrings: list[str] | None = None,
        hook: str | None = None,
    ) -> None:
        self.domains = {d.lower().strip(".") for d in (domains or [])}
        self.domains_file, self.hook = domains_file, hook
        self.substrings = [s.lower() for s in (substrings or [])]
        if hook is not None and ":" not in hook:
            raise ConfigError(f"hook must look like 'package.module:function', got {hook!r}")
        self._loaded = False
        self._hook_fn: Callable[[str], bool] | None = None

    def _load(self) -> None:
        if self.domains_file:
            try:
                with open(self.domains_file, encoding="utf-8") as fh:
                    for line in fh:
                        line = line.split("#", 1)[0].strip().lower().strip(".")
                        if line:
                            self.domains.add(line)
            except OSError as exc:
                raise ConfigError(f"{self.domains_file}: cannot read blocklist: {exc.strerror}") from None
        if self.hook:
            module, _, attr = self.hook.partition(":")
            try:
                self._hook_fn = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise ConfigError(f"cannot import URL hook {self.hook!r}: {exc}") from None
        self._loaded = True

    def keep(self, rec: Document) -> bool | str:
        if not self._loaded:
            self._load()
        url = str(rec.metadata.get("url") or "")
        if not url:
            return True
        host = (urlsplit(url).hostname or "").lower()
        parts = host.split(".")
        if any(".".join(parts[i:]) in self.domains for i in range(len(parts))):
            return "blocked_domain"
        low = url.lower()
        if any(s in low for s in self.substrings):
            return "blocked_url_substring"
        if self._hook_fn is not None and self._hook_fn(url):
            return "blocked_by_hook"
        return True

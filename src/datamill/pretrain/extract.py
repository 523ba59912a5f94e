"""HTML to main text: resiliparse (fast default) or trafilatura; keeps title, URL, date, language hints."""

from __future__ import annotations

import re
from typing import Literal

from datamill.errors import ConfigError, require
from datamill.pipeline.step import Filter
from datamill.records import Document

__all__ = ["Extract", "extract_text"]

ENGINES = ("resiliparse", "trafilatura")
_LANG_ATTR = re.compile(rb"<html[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)


def extract_text(
    html: str, *, engine: Literal["resiliparse", "trafilatura"] = "resiliparse", main_content: bool = True
) -> tuple[str, str | None]:
    """(main text, title) of an HTML page."""
    if engine == "resiliparse":
        require("resiliparse", extra="pretrain", purpose="HTML extraction")
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        tree = HTMLTree.parse(html)
        text = extract_plain_text(
            tree, main_content=main_content, alt_texts=False, links=False, list_bullets=True, comments=False
        )
        return text.strip(), (tree.title or None)
    if engine == "trafilatura":
        trafilatura = require("trafilatura", extra="pretrain", purpose="HTML extraction with trafilatura")
        text = (
            trafilatura.extract(
                html, include_comments=False, include_tables=True, favor_precision=False, no_fallback=True
            )
            or ""
        )
        meta = trafilatura.extract_metadata(html)
        return text.strip(), (meta.title if meta is not None else None)
    raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")


class Extract(Filter[Document]):
    """Replace each HTML document's text with its main text (plain-text documents pass through).

    Adds ``title`` and ``html_lang`` (the page's ``<html lang>`` hint) to the metadata and sets
    ``format`` to ``"text"``; pages whose declared charset was unknown or wrong (decoded by
    detection instead) are counted as ``unknown_charset``. Drop reasons: ``empty_document`` (nothing left after extraction),
    ``extraction_failed``.
    """

    name = "pretrain.extract"

    def __init__(
        self,
        *,
        engine: Literal["resiliparse", "trafilatura"] = "resiliparse",
        main_content: bool = True,
        min_chars: int = 1,
    ) -> None:
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}", params="engine")
        self.engine, self.main_content, self.min_chars = engine, main_content, min_chars

    def keep(self, rec: Document) -> bool | str:
        if "charset_declared" in rec.metadata:  # the reader fell back to detection
            self.stats.counters["unknown_charset"] += 1
        if rec.metadata.get("format", "html") == "html":
            html = rec.text
            m = _LANG_ATTR.search(html[:4096].encode("utf-8", "replace"))
            if m:
                rec.metadata["html_lang"] = m.group(1).decode().lower()
            try:
                text, title = extract_text(html, engine=self.engine, main_content=self.main_content)
            except Exception as exc:  # noqa: BLE001 - a parser crash on one page must not stop the run
                self.stats.counters[f"error_{type(exc).__name__}"] += 1
                return "extraction_failed"
            rec.text = text
            if title:
                rec.metadata["title"] = title.strip()
            rec.metadata["format"] = "text"
        if len(rec.text.strip()) < self.min_chars:
            return "empty_document"
        return True

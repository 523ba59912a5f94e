"""Safe Markdown: markdown-it-py with raw HTML off, then nh3 (ammonia) as the allow-list sanitiser.

Model outputs, prompts and guidelines are untrusted. No raw HTML survives but a bare ``<kbd>``/``</kbd>``
(guidelines name keys: "press <kbd>a</kbd>"; no attributes, never inside code), links keep only
http/https/mailto schemes, images are dropped (no remote fetches, no ``onerror`` tricks), and no
attribute other than ``href``/``title`` on links, ``class`` on code (language) and table alignment is kept.
Alignment becomes an ``align-*`` class (app.css): a ``style=`` attribute would be blocked by the page's CSP.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["render_markdown"]

_TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "kbd",
}
_ATTRS = {"a": {"href", "title"}, "code": {"class"}, "ol": {"start"}}
_ALIGN_CLASSES = {"align-left", "align-center", "align-right"}
# markdown-it's only style attribute: table cell alignment (raw HTML is off, so no other can get here)
_ALIGN_STYLE = re.compile(r'<(th|td) style="text-align:(left|center|right)">')


@lru_cache(maxsize=1)
def _md() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    md.enable("strikethrough")
    md.inline.ruler.before("html_inline", "kbd", _kbd)
    return md


_KBD = re.compile(r"<(/?)kbd>", re.IGNORECASE)


def _kbd(state: Any, silent: bool) -> bool:
    """Inline rule: a bare ``<kbd>`` or ``</kbd>`` becomes that tag (code spans are parsed before)."""
    if state.src[state.pos] != "<":
        return False
    m = _KBD.match(state.src, state.pos)
    if m is None:
        return False
    if not silent:
        state.push("html_inline", "", 0).content = "</kbd>" if m.group(1) else "<kbd>"
    state.pos = m.end()
    return True


def render_markdown(text: str | None) -> str:
    """HTML for untrusted Markdown, safe to insert into a page."""
    import nh3

    if not text:
        return ""
    html = _ALIGN_STYLE.sub(r'<\1 class="align-\2">', _md().render(text))
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRS,
        allowed_classes={"th": _ALIGN_CLASSES, "td": _ALIGN_CLASSES},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )

"""Wikipedia (MediaWiki) XML dumps: ``pages-articles.xml.bz2`` streamed page by page to clean text.

Each article becomes a :class:`~datamill.records.Document` whose ``text`` is its wikitext turned into
plain text with mwparserfromhell: templates, references, tables, files/images, categories and
interlanguage links, and the trailing reference sections (References, Notes, See also, External
links, ...) are dropped; links keep their text, headings stay on their own lines. Redirects and pages
outside the kept namespaces (talk, user, Wikipedia:, templates, ...) are skipped; so are articles
whose text comes out empty. Metadata: ``title``, ``url``, ``page_id``, ``revision_id``, ``date``,
``namespace``, ``wiki`` (the dump's database name), ``format="text"``.

The dump is read as a stream (bz2 blocks, XML events, each page cleared once read): memory stays
flat whatever the dump's size. A damaged file (truncated bz2, broken XML) is quarantined once
(``truncated_xml``) after the pages before the damage.
"""

from __future__ import annotations

import bz2
import contextlib
import re
import zlib
from collections.abc import Iterator
from typing import IO, Any
from xml.etree import ElementTree

from datamill.errors import ConfigError, require
from datamill.io import storage
from datamill.io.quarantine import ErrorPolicy, OnError
from datamill.pipeline.io import Reader
from datamill.records import Document, Provenance, stable_id

__all__ = ["WikipediaReader", "wikitext_to_text"]

# sections at the end of an article that hold no prose of their own
_DROP_SECTIONS = {
    "references",
    "notes",
    "footnotes",
    "citations",
    "sources",
    "bibliography",
    "external links",
    "see also",
    "further reading",
    "notes and references",
    "references and notes",
    "works cited",
}
# link namespaces that are not running text (English and the canonical names every wiki accepts)
_DROP_LINKS = re.compile(r"^\s*(file|image|media|category)\s*:", re.IGNORECASE)
_LANGUAGE_LINK = re.compile(r"^\s*[a-z]{2,3}(-[a-z]+)*\s*:")  # [[de:Erdferkel]]: lowercase codes only
_SISTER = re.compile(r"^\s*:?\s*(wikt|wiktionary|s|wikisource|w|wikipedia|commons)\s*:", re.IGNORECASE)
_EMPTY_PARENS = re.compile(r"\(\s*\)")  # what is left of "({{IPA|...}})"
_OPEN_PARENS = re.compile(r"\(\s*[;,]\s*")  # "( ; Orycteropus afer)" -> "(Orycteropus afer)"
_BLANK_LINES = re.compile(r"\n{3,}")
_SPACES = re.compile(r"[ \t\u00a0]+")


def wikitext_to_text(wikitext: str) -> str:
    """Plain text of an article's wikitext (see the module docstring for what is dropped)."""
    mw = require("mwparserfromhell", extra="pretrain", purpose="reading Wikipedia dumps")
    code = mw.parse(wikitext)
    for section in code.get_sections(levels=[2]):
        headings = section.filter_headings(recursive=False)
        if headings and headings[0].title.strip_code().strip().lower() in _DROP_SECTIONS:
            _remove(code, section)
    for node in code.filter(recursive=True):
        if isinstance(node, mw.nodes.Tag) and (
            str(node.wiki_markup or "") == "{|" or str(node.tag).lower() in ("ref", "references", "gallery")
        ):
            _remove(code, node)
        elif isinstance(node, mw.nodes.Wikilink):
            title = str(node.title)
            if _DROP_LINKS.match(title) or (_LANGUAGE_LINK.match(title) and not _SISTER.match(title)):
                _remove(code, node)
        elif isinstance(node, (mw.nodes.Template, mw.nodes.Comment)):
            _remove(code, node)
    text = code.strip_code(normalize=True, collapse=True)
    lines = (
        _SPACES.sub(" ", _OPEN_PARENS.sub("(", _EMPTY_PARENS.sub("", line))).strip()
        for line in text.split("\n")
    )
    kept = "\n".join(line for line in lines if any(ch.isalnum() for ch in line) or not line)
    return _BLANK_LINES.sub("\n\n", kept).strip()


def _remove(code: Any, node: Any) -> None:
    with contextlib.suppress(ValueError):  # already gone with its parent
        code.remove(node)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class WikipediaReader(Reader):
    """MediaWiki XML dumps (``.xml.bz2`` or ``.xml``): one document per article, clean text.

    Args:
        paths: dump files, folders or globs (local or URLs).
        namespaces: the namespaces kept (0: articles).
        on_error: ``"quarantine"`` (default) or ``"raise"`` for a damaged dump.
        min_chars: articles shorter than this after cleaning are skipped (stubs, lists of links).
    """

    name = "pretrain.read_wikipedia"
    suffixes = (".xml.bz2", ".xml")

    def __init__(
        self,
        *,
        paths: str | list[str],
        namespaces: list[int] | None = None,
        on_error: OnError = "quarantine",
        min_chars: int = 1,
    ) -> None:
        super().__init__(paths=paths, on_error=on_error, record_type="document")
        self.namespaces = sorted(namespaces) if namespaces is not None else [0]
        if min_chars < 0:
            raise ConfigError(f"min_chars must be >= 0, got {min_chars!r}", params="min_chars")
        self.min_chars = min_chars

    def read_shard(self, shard: str, policy: ErrorPolicy) -> Iterator[Document]:
        require("mwparserfromhell", extra="pretrain", purpose="reading Wikipedia dumps")
        raw = storage.open_input(shard)
        stream: IO[bytes] = bz2.BZ2File(raw) if shard.endswith(".bz2") else raw
        site: dict[str, str] = {}
        pages = 0
        try:
            for _, elem in ElementTree.iterparse(stream, events=("end",)):
                tag = _local(elem.tag)
                if tag == "dbname":
                    site["wiki"] = elem.text or ""
                elif tag == "base":
                    site["base"] = (elem.text or "").rsplit("/", 1)[0] + "/"
                elif tag == "siteinfo":
                    elem.clear()
                elif tag == "page":
                    pages += 1
                    doc = self._page(elem, site, shard, pages)
                    elem.clear()
                    if doc is not None:
                        yield doc
        except (ElementTree.ParseError, EOFError, OSError, zlib.error) as exc:
            policy.bad(
                path=shard,
                line=None,
                kind="truncated_xml",
                reason=f"cannot read the dump after {pages} page(s): {exc}",
            )
        finally:
            stream.close()
            raw.close()

    def _page(self, page: Any, site: dict[str, str], shard: str, index: int) -> Document | None:
        fields: dict[str, Any] = {}
        for child in page.iter():
            tag = _local(child.tag)
            if tag in ("title", "ns", "text", "timestamp") and tag not in fields:
                fields[tag] = child.text or ""
            elif tag == "id" and "page_id" not in fields:
                fields["page_id"] = child.text
            elif tag == "revision":
                rid = next((c.text for c in child if _local(c.tag) == "id"), None)
                fields["revision_id"] = rid
            elif tag == "redirect":
                fields["redirect"] = True
        try:
            ns = int(fields.get("ns", 0))
        except ValueError:
            ns = -1
        if ns not in self.namespaces or fields.get("redirect"):
            return None
        wikitext = fields.get("text", "")
        if wikitext.lstrip()[:9].upper() == "#REDIRECT":  # older dumps mark redirects only in the text
            return None
        text = wikitext_to_text(wikitext)
        if len(text) < max(1, self.min_chars):
            return None
        title = fields.get("title", "")
        meta = {
            "title": title,
            "url": site.get("base", "") + title.replace(" ", "_") if site.get("base") else None,
            "page_id": int(fields["page_id"]) if str(fields.get("page_id", "")).isdigit() else None,
            "revision_id": int(fields["revision_id"])
            if str(fields.get("revision_id", "")).isdigit()
            else None,
            "date": fields.get("timestamp") or None,
            "namespace": ns,
            "wiki": site.get("wiki"),
            "format": "text",
        }
        return Document(
            id=stable_id(site.get("wiki", ""), meta["page_id"] if meta["page_id"] is not None else title),
            text=text,
            metadata=meta,
            provenance=Provenance(source=shard, line=index),
        )

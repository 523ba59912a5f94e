"""Books: Project Gutenberg plain text (``.txt``, ``.txt.gz``) and EPUB (``.epub``), one document each.

Gutenberg's licence header (everything up to ``*** START OF THE PROJECT GUTENBERG EBOOK ... ***``) and
footer (from ``*** END OF ...``: the full Project Gutenberg License) are stripped; older files that
mark them as ``*END*THE SMALL PRINT!`` / ``End of the Project Gutenberg EBook`` are handled too. The
header's ``Title``, ``Author``, ``Language`` and ebook number go to the metadata. A file without the
markers is read whole (``metadata["gutenberg"] = False``).

An EPUB is read in its spine's reading order (``META-INF/container.xml`` -> the OPF package); each
XHTML part becomes text with resiliparse (paragraphs kept, no image alt texts), Gutenberg's
``pg-header`` / ``pg-footer`` boilerplate elements removed first. Title, author, language and
identifier come from the package's Dublin Core metadata. A damaged EPUB (not a zip, no package) is
quarantined (``bad_epub``).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

from datamill.errors import require
from datamill.io import storage
from datamill.io._files import open_read
from datamill.io.quarantine import ErrorPolicy, OnError
from datamill.pipeline.io import Reader
from datamill.records import Document, Provenance, stable_id

__all__ = ["BookReader", "epub_text", "strip_gutenberg"]

_START = re.compile(
    r"^\s*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)[^\n]*$"
    r"|^\s*\*END\*THE SMALL PRINT![^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
_END = re.compile(
    r"^\s*\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)"
    r"|^\s*End of (?:the |this )?Project Gutenberg'?s? (?:E-?(?:BOOK|TEXT)|Etext|ebook)",
    re.IGNORECASE | re.MULTILINE,
)
_FIELDS = {
    "title": re.compile(r"^Title:\s*(.+)$", re.MULTILINE),
    "author": re.compile(r"^Author:\s*(.+)$", re.MULTILINE),
    "language": re.compile(r"^Language:\s*(.+)$", re.MULTILINE),
    "ebook": re.compile(r"\[E(?:Book|Text) #(\d+)\]", re.IGNORECASE),
}
_BOILERPLATE_IDS = ("pg-header", "pg-footer", "pg-machine-header", "pg-start-separator", "pg-end-separator")
_OPF = "{http://www.idpf.org/2007/opf}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"


def strip_gutenberg(text: str) -> tuple[str, dict[str, Any]]:
    """``(body, header fields)``: the text between Gutenberg's START and END markers, and the
    ``title``/``author``/``language``/``ebook`` of the header (``{"gutenberg": False}`` without markers)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    start = _START.search(text)
    end = _END.search(text, start.end() if start else 0)
    if not start and not end:
        return text.strip(), {"gutenberg": False}
    head = text[: start.start()] if start else ""
    meta: dict[str, Any] = {"gutenberg": True}
    for key, rx in _FIELDS.items():
        m = rx.search(head)
        if m:
            meta[key] = m.group(1).strip()
    body = text[start.end() if start else 0 : end.start() if end else len(text)]
    return body.strip(), meta


def _xml(zf: zipfile.ZipFile, name: str) -> Any:
    return ElementTree.fromstring(zf.read(name))


def _part_text(data: bytes) -> str:
    """Plain text of one XHTML part, Gutenberg's boilerplate elements removed."""
    import lxml.html
    from resiliparse.extract.html2text import extract_plain_text

    root = lxml.html.fromstring(data)
    for el in root.xpath(
        "//*["
        + " or ".join(f"@id='{i}'" for i in _BOILERPLATE_IDS)
        + " or contains(@class, 'pg-boilerplate')]"
    ):
        el.getparent().remove(el)
    html = lxml.html.tostring(root, encoding="unicode")
    return str(extract_plain_text(html, preserve_formatting=True, main_content=False, alt_texts=False))


def epub_text(fh: Any) -> tuple[str, dict[str, Any]]:
    """``(text, metadata)`` of an EPUB (a path or binary file object), parts in reading order."""
    with zipfile.ZipFile(fh) as zf:
        rootfile = _xml(zf, "META-INF/container.xml").find(f".//{_CONTAINER}rootfile")
        if rootfile is None:
            raise ValueError("META-INF/container.xml names no package (rootfile)")
        opf_path = rootfile.get("full-path", "")
        opf = _xml(zf, opf_path)
        base = posixpath.dirname(opf_path)
        items = {it.get("id"): (it.get("href"), it.get("media-type", "")) for it in opf.iter(f"{_OPF}item")}
        parts = []
        for ref in opf.iter(f"{_OPF}itemref"):
            href, mtype = items.get(ref.get("idref"), (None, ""))
            if href and ("html" in mtype or href.endswith((".html", ".htm", ".xhtml"))):
                parts.append(_part_text(zf.read(posixpath.normpath(posixpath.join(base, href)))))
        meta: dict[str, Any] = {}
        for key, tag in (
            ("title", "title"),
            ("author", "creator"),
            ("language", "language"),
            ("identifier", "identifier"),
        ):
            el = opf.find(f".//{_DC}{tag}")
            if el is not None and (el.text or "").strip():
                meta[key] = el.text.strip()  # type: ignore[union-attr]
    text = "\n\n".join(p.strip() for p in parts if p.strip())
    body, head = strip_gutenberg(text)  # markers left in the text of EPUBs made by other tools
    return body, {**meta, "gutenberg": head["gutenberg"] or "gutenberg.org" in meta.get("identifier", "")}


class BookReader(Reader):
    """Books, one document per file: Project Gutenberg plain text (``.txt``, ``.txt.gz``) and EPUB.

    The licence header and footer are stripped (see the module docstring). Metadata: ``title``,
    ``author``, ``language`` (as the book states it), ``ebook`` (Gutenberg number) or ``identifier``,
    ``gutenberg`` (whether the markers were found), ``format="text"``, ``book_format``.
    """

    name = "pretrain.read_books"
    suffixes = (".txt", ".txt.gz", ".epub")

    def __init__(self, *, paths: str | list[str], on_error: OnError = "quarantine") -> None:
        super().__init__(paths=paths, on_error=on_error, record_type="document")

    def read_shard(self, shard: str, policy: ErrorPolicy) -> Iterator[Document]:
        if shard.lower().endswith(".epub"):
            require("resiliparse", extra="pretrain", purpose="reading EPUB books")
            try:
                with storage.open_input(shard) as fh:
                    text, meta = epub_text(fh)
            except (zipfile.BadZipFile, KeyError, ValueError, ElementTree.ParseError) as exc:
                policy.bad(path=shard, line=None, kind="bad_epub", reason=f"not a readable EPUB: {exc}")
                return
            fmt = "epub"
        else:
            with open_read(shard) as fh:
                raw = fh.read()
            text, meta = strip_gutenberg(raw.decode("utf-8", "replace"))
            fmt = "txt"
        if not text:
            policy.bad(path=shard, line=None, kind="empty_book", reason="no text between the licence markers")
            return
        key = meta.get("ebook") or meta.get("identifier") or shard
        yield Document(
            id=stable_id("book", key, fmt),
            text=text,
            metadata={**meta, "format": "text", "book_format": fmt, "url": meta.get("identifier")},
            provenance=Provenance(source=shard),
        )

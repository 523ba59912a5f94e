"""Chunk documents for retrieval, keeping where every chunk came from.

Methods: ``tokens`` (fixed token windows with overlap), ``sentences`` and ``paragraphs`` (whole
units packed up to ``max_tokens``), ``markdown`` and ``html`` (sections under their heading path,
then packed), ``code`` (top-level definitions kept whole where they fit). Each chunk is a
:class:`~datamill.records.Document` whose ``metadata`` is its document's metadata (``lang``, ``url``,
``title``, anything else, so an index can filter on it) plus the chunk's own keys: ``doc_id``,
``chunk_index``, ``start``/``end`` (character offsets into the source text), ``heading_path`` and
``method`` (these win over a document key of the same name). Its provenance names the parent document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from datamill.errors import ConfigError
from datamill.records import Document, Provenance, stable_id
from datamill.tokens import get_tokenizer

__all__ = ["CHUNK_METHODS", "chunk_document", "chunk_documents"]

CHUNK_METHODS = ("tokens", "sentences", "paragraphs", "markdown", "html", "code")
_SENT = re.compile(r"[^.!?。！？\n]+(?:[.!?。！？]+[\"')\]]*|\n+|$)\s*", re.S)
_PARA = re.compile(r"(?:[^\n]|\n(?!\s*\n))+\n*\s*", re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
_CODE_TOP = re.compile(
    r"^(?:async\s+def|def|class|function|fn|func|public|private|static|export|interface|struct|impl)\b", re.M
)


@dataclass
class _Span:
    start: int
    end: int
    headings: tuple[str, ...] = ()


def _units(text: str, pattern: re.Pattern[str], base: int = 0, headings: tuple[str, ...] = ()) -> list[_Span]:
    return [
        _Span(base + m.start(), base + m.end(), headings) for m in pattern.finditer(text) if m.group().strip()
    ]


def _markdown_sections(text: str) -> list[tuple[int, int, tuple[str, ...]]]:
    out, path = [], []  # type: ignore[var-annotated]
    marks = list(_HEADING.finditer(text))
    starts = [0] + [m.start() for m in marks]
    for i, start in enumerate(starts):
        if i > 0:
            m = marks[i - 1]
            level = len(m.group(1))
            path = [p for p in path if p[0] < level] + [(level, m.group(2).strip())]
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        if text[start:end].strip():
            out.append((start, end, tuple(h for _, h in path)))
    return out


def _html_to_text(html: str) -> tuple[str, list[tuple[int, int, tuple[str, ...]]]]:
    """Visible block text of an HTML page and its sections by heading path (offsets into that text)."""
    from lxml import html as lxml_html

    try:
        root = lxml_html.fromstring(html)
    except (ValueError, lxml_html.etree.ParserError):
        return "", []
    for bad in root.xpath("//script|//style|//noscript|//nav|//footer|//header"):
        bad.drop_tree()
    parts: list[str] = []
    sections: list[tuple[int, int, tuple[str, ...]]] = []
    path: list[tuple[int, str]] = []
    pos, sec_start = 0, 0
    blocks = root.xpath("//h1|//h2|//h3|//h4|//h5|//h6|//p|//li|//pre|//blockquote|//td|//dd|//dt")
    for el in blocks:
        if any(a in blocks for a in el.iterancestors()):
            continue
        text = " ".join(el.text_content().split()) if el.tag != "pre" else el.text_content()
        if not text.strip():
            continue
        if el.tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            if pos > sec_start:
                sections.append((sec_start, pos, tuple(h for _, h in path)))
            level = int(el.tag[1])
            path = [p for p in path if p[0] < level] + [(level, text)]
            sec_start = pos
        parts.append(text + "\n\n")
        pos += len(text) + 2
    if pos > sec_start:
        sections.append((sec_start, pos, tuple(h for _, h in path)))
    return "".join(parts), sections


def chunk_document(
    doc: Document,
    *,
    method: str = "tokens",
    max_tokens: int = 256,
    overlap: int = 32,
    tokenizer: str = "cl100k_base",
    min_chars: int = 1,
) -> list[Document]:
    """Split one document into chunks (see the module doc); an empty document gives no chunks."""
    if method not in CHUNK_METHODS:
        raise ConfigError(
            f"method must be one of {', '.join(CHUNK_METHODS)}, got {method!r}", params="method"
        )
    if max_tokens < 8:
        raise ConfigError(f"max_tokens must be >= 8, got {max_tokens!r}", params="max_tokens")
    if not 0 <= overlap < max_tokens:
        raise ConfigError(
            f"overlap must be >= 0 and < max_tokens, got {overlap!r}", params=("overlap", "max_tokens")
        )
    tok = get_tokenizer(tokenizer)
    text = doc.text
    if method == "html":
        text, sections = _html_to_text(text)
    spans: list[_Span]
    if method == "tokens":
        spans = _token_windows(text, tok, max_tokens, overlap)
    else:
        if method == "markdown":
            sections = _markdown_sections(text)
        elif method != "html":
            sections = [(0, len(text), ())]
        spans = []
        for start, end, heads in sections:
            body = text[start:end]
            if method == "sentences":
                units = _units(body, _SENT, start, heads)
            elif method == "code":
                cuts = sorted({0, *(m.start() for m in _CODE_TOP.finditer(body)), len(body)})
                units = [
                    _Span(start + a, start + b, heads)
                    for a, b in zip(cuts, cuts[1:], strict=False)
                    if body[a:b].strip()
                ]
            else:
                units = _units(body, _PARA, start, heads)
            spans += _pack(text, units, tok, max_tokens, overlap)
    out = []
    for i, sp in enumerate(s for s in spans if len(text[s.start : s.end].strip()) >= min_chars):
        body = text[sp.start : sp.end]
        meta = {
            **doc.metadata,
            "doc_id": doc.id,
            "chunk_index": i,
            "start": sp.start,
            "end": sp.end,
            "heading_path": list(sp.headings),
            "method": method,
        }
        if method == "html":
            meta["offsets_into"] = "extracted_text"
        prov = Provenance(
            source=doc.provenance.source,
            line=doc.provenance.line,
            offset=doc.provenance.offset,
            step="incontext.chunk",
            parents=[doc.id],
        )
        out.append(
            Document(id=stable_id(doc.id, i, sp.start, sp.end), text=body, metadata=meta, provenance=prov)
        )
    return out


def _token_windows(text: str, tok, max_tokens: int, overlap: int) -> list[_Span]:  # type: ignore[no-untyped-def]
    if not text.strip():
        return []
    ids = tok.encode(text)
    enc = getattr(tok, "_enc", None)
    if enc is not None:
        _, offsets = enc.decode_with_offsets(ids)
    else:  # HF tokenizers: offsets of each token
        offsets = [o[0] for o in tok._tok.encode(text, add_special_tokens=False).offsets]
    spans, step = [], max_tokens - overlap
    for lo in range(0, len(ids), step):
        hi = min(lo + max_tokens, len(ids))
        start = offsets[lo]
        end = offsets[hi] if hi < len(ids) else len(text)
        spans.append(_Span(start, end))
        if hi == len(ids):
            break
    return spans


def _pack(text: str, units: list[_Span], tok, max_tokens: int, overlap: int) -> list[_Span]:  # type: ignore[no-untyped-def]
    """Greedily pack consecutive units (same heading path) up to max_tokens; carry ~overlap tokens of
    trailing units into the next chunk. A unit longer than max_tokens is cut into token windows."""
    if not units:
        return []
    counts = tok.count_batch([text[u.start : u.end] for u in units])
    out: list[_Span] = []
    cur: list[int] = []
    size = 0
    for i, (u, n) in enumerate(zip(units, counts, strict=True)):
        if n > max_tokens:
            if cur:
                out.append(_Span(units[cur[0]].start, units[cur[-1]].end, units[cur[0]].headings))
                cur, size = [], 0
            out += [
                _Span(u.start + s.start, u.start + s.end, u.headings)
                for s in _token_windows(text[u.start : u.end], tok, max_tokens, overlap)
            ]
            continue
        if cur and (size + n > max_tokens or units[cur[0]].headings != u.headings):
            out.append(_Span(units[cur[0]].start, units[cur[-1]].end, units[cur[0]].headings))
            keep: list[int] = []
            kept = 0
            for j in reversed(cur):
                if kept + counts[j] > overlap or units[j].headings != u.headings:
                    break
                keep.insert(0, j)
                kept += counts[j]
            cur, size = keep, kept
        cur.append(i)
        size += n
    if cur:
        out.append(_Span(units[cur[0]].start, units[cur[-1]].end, units[cur[0]].headings))
    return out


def chunk_documents(
    docs: Iterable[Document],
    *,
    method: str = "tokens",
    max_tokens: int = 256,
    overlap: int = 32,
    tokenizer: str = "cl100k_base",
    min_chars: int = 1,
) -> Iterator[Document]:
    """Chunk every document (streaming)."""
    for doc in docs:
        yield from chunk_document(
            doc,
            method=method,
            max_tokens=max_tokens,
            overlap=overlap,
            tokenizer=tokenizer,
            min_chars=min_chars,
        )

"""Readers for web dumps: WARC / WARC.gz (response records, HTTP parsed), WET, folders of HTML files.

Each yields :class:`~datamill.records.Document` records whose ``text`` is the decoded payload (HTML
for responses and HTML files, plain text for WET ``conversion`` records) and whose ``metadata``
holds ``url``, ``date``, ``content_type``, ``charset`` and ``format`` (``"html"`` or ``"text"``).
Bad input goes to the quarantine under a named kind: ``truncated_warc``, ``non_html_payload``,
``page_too_large``, ``bad_http_encoding``; JSONL and Parquet document dumps use the foundation's
:class:`~datamill.pipeline.JsonlReader` / :class:`~datamill.pipeline.ParquetReader`.
"""

from __future__ import annotations

import codecs
import os
import zlib
from collections.abc import Iterator
from typing import Any

from datamill.errors import ConfigError, InputError, require
from datamill.io import storage
from datamill.io.quarantine import ErrorPolicy, OnError
from datamill.pipeline.io import Reader
from datamill.records import Document, Provenance, stable_id

__all__ = ["HtmlFolderReader", "WarcReader", "decode_payload", "warc_record"]

_HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml")
DEFAULT_MAX_BYTES = 5_000_000


def _dechunk(body: bytes) -> bytes:
    out, pos = bytearray(), 0
    while pos < len(body):
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            raise ValueError("chunk size line has no CRLF")
        size = int(body[pos:eol].split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        out += body[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2
    return bytes(out)


def decode_payload(body: bytes, headers: dict[str, str]) -> bytes:
    """Undo HTTP transfer and content encodings (chunked, gzip, deflate, br if brotli is installed, zstd)."""
    low = {k.lower(): v.lower() for k, v in headers.items()}
    if "chunked" in low.get("transfer-encoding", "") and body.lstrip()[:1] != b"<":
        body = _dechunk(body)
    enc = low.get("content-encoding", "").strip()
    if enc in ("gzip", "x-gzip"):
        body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
    elif enc == "deflate":
        try:
            body = zlib.decompress(body)
        except zlib.error:
            body = zlib.decompress(body, -zlib.MAX_WBITS)
    elif enc == "br":
        body = require("brotli", extra="pretrain", purpose="brotli-encoded HTTP payloads").decompress(body)
    elif enc == "zstd":
        import zstandard

        body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
    return body


def _to_text(body: bytes, charset: str | None) -> tuple[str, str, bool]:
    """(text, charset used, whether the declared charset was unknown or wrong)."""
    fallback = False
    if charset:
        try:
            codecs.lookup(charset)
            return body.decode(charset), charset.lower(), False
        except (LookupError, UnicodeDecodeError):
            fallback = True
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    enc = detect_encoding(body) or "utf-8"
    return bytes_to_str(body, enc, fallback_encodings=("utf-8", "cp1252")), enc, fallback


def warc_record(
    url: str,
    payload: bytes,
    *,
    content_type: str = "text/html; charset=utf-8",
    date: str = "2024-01-01T00:00:00Z",
    record_id: str | None = None,
    http_headers: str = "",
) -> bytes:
    """One WARC/1.0 ``response`` record (HTTP 200 around ``payload``) as its own gzip member.

    Concatenated records make a valid ``.warc.gz``; for fixtures, samples and benchmarks.
    ``http_headers`` holds extra ``Name: value\\r\\n`` lines.
    """
    import gzip
    import io

    rid = record_id or stable_id(url, date)
    http = (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{http_headers}Content-Length: {len(payload)}"
        "\r\n\r\n"
    ).encode() + payload
    head = (
        f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{rid}>\r\nWARC-Date: {date}\r\n"
        f"WARC-Target-URI: {url}\r\nContent-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(http)}\r\n\r\n"
    ).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(head + http + b"\r\n\r\n")
    return buf.getvalue()


class _WebReader(Reader):
    def __init__(
        self, *, paths: str | list[str], on_error: OnError = "quarantine", max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        super().__init__(paths=paths, on_error=on_error, record_type="document")
        if max_bytes < 1:
            raise ConfigError(f"max_bytes must be >= 1, got {max_bytes!r}")
        self.max_bytes = max_bytes


class WarcReader(_WebReader):
    """WARC files (``.warc``, ``.warc.gz``, WET ``.warc.wet.gz``) read with fastwarc.

    Response records with an HTML (or plain-text) payload become documents; WET conversion records
    become plain-text documents (with Common Crawl's language guess, if present, in ``warc_lang``). Non-HTML payloads, pages over ``max_bytes`` and undecodable HTTP
    encodings are quarantined with their URL and offset; a truncated file is quarantined once
    (``truncated_warc``) after the records before the damage.
    """

    name = "pretrain.read_warc"
    suffixes = (".warc", ".warc.gz", ".wet", ".wet.gz", ".warc.wet.gz", ".arc.gz")

    def read_shard(self, shard: str, policy: ErrorPolicy) -> Iterator[Document]:
        fastwarc = require(
            "fastwarc.warc", extra="pretrain", purpose="reading WARC files", package="fastwarc"
        )
        types = fastwarc.WarcRecordType.response | fastwarc.WarcRecordType.conversion
        self._conversion = fastwarc.WarcRecordType.conversion
        last_end = 0
        with storage.open_input(shard) as raw:
            fh = _EndCheck(raw)
            try:
                for rec in fastwarc.ArchiveIterator(
                    fh, record_types=types, parse_http=True, verify_digests=False
                ):
                    doc = self._record(rec, shard, policy)
                    last_end = rec.stream_pos
                    if doc is not None:
                        yield doc
            except (OSError, ValueError, EOFError, zlib.error) as exc:
                policy.bad(
                    path=shard,
                    line=None,
                    kind="truncated_warc",
                    reason=f"cannot read WARC: {exc}",
                    offset=last_end,
                )
                return
            # fastwarc stops quietly at damage: a gzip member cut short or a record body shorter than declared
            if not fh.ends_cleanly():
                policy.bad(
                    path=shard,
                    line=None,
                    kind="truncated_warc",
                    reason="file ends inside a record (truncated WARC or gzip stream)",
                    offset=last_end,
                )

    def _record(self, rec: Any, shard: str, policy: ErrorPolicy) -> Document | None:
        """The document of a WET conversion or an HTTP response record; None for other records and for a
        payload that cannot be read (told to ``policy``)."""
        url = rec.headers.get("WARC-Target-URI") or ""
        offset = int(rec.stream_pos)
        where = {
            "url": url,
            "date": rec.headers.get("WARC-Date"),
            "rid": rec.headers.get("WARC-Record-ID") or f"{shard}:{offset}",
            "shard": shard,
            "offset": offset,
        }
        if rec.record_type == self._conversion:  # WET: plain text already
            got = self._wet_doc(rec, where)
        elif rec.is_http:
            got = self._http_doc(rec, where)
        else:
            return None
        if isinstance(got, Document):
            return got
        kind, reason = got
        policy.bad(path=shard, line=None, kind=kind, offset=offset, reason=f"{url}: {reason}")
        return None

    def _wet_doc(self, rec: Any, where: dict[str, Any]) -> Document | tuple[str, str]:
        """A WET conversion record's text, else (kind, reason) it is left out."""
        body = rec.reader.read(self.max_bytes + 1)
        if len(body) > self.max_bytes:
            return "page_too_large", f"text over {self.max_bytes:,} bytes"
        text = body.decode("utf-8", "replace")
        doc = self._doc(text, **where, fmt="text", content_type="text/plain", charset="utf-8")
        hint = rec.headers.get("WARC-Identified-Content-Language")
        if hint:  # Common Crawl's CLD2 guess, ISO 639-3, most likely first ("eng,deu")
            doc.metadata["warc_lang"] = hint
        return doc

    def _http_doc(self, rec: Any, where: dict[str, Any]) -> Document | tuple[str, str]:
        """An HTTP response's page, decoded (content encoding, then charset), else (kind, reason) it is left
        out: not HTML or plain text, too large before or after decoding, badly encoded, binary."""
        ctype = (rec.http_content_type or "").lower()
        if ctype and not ctype.startswith(_HTML_TYPES):
            return "non_html_payload", f"content type {ctype}"
        body = rec.reader.read(self.max_bytes + 1)
        if len(body) > self.max_bytes:
            return "page_too_large", f"payload over {self.max_bytes:,} bytes"
        try:
            body = decode_payload(body, dict(rec.http_headers.items()))
        except (ValueError, zlib.error, OSError) as exc:
            return "bad_http_encoding", str(exc)
        if len(body) > self.max_bytes:
            return "page_too_large", f"decoded payload over {self.max_bytes:,} bytes"
        if not ctype and b"\x00" in body[:1024]:
            return "non_html_payload", "binary payload without a content type"
        text, charset, fallback = _to_text(body, rec.http_charset)
        fmt = "text" if ctype.startswith("text/plain") else "html"
        doc = self._doc(text, **where, fmt=fmt, content_type=ctype, charset=charset)
        if fallback:
            doc.metadata["charset_declared"] = rec.http_charset
        return doc

    @staticmethod
    def _doc(
        text: str,
        *,
        url: str,
        date: str | None,
        rid: str,
        shard: str,
        offset: int,
        fmt: str,
        content_type: str,
        charset: str,
    ) -> Document:
        meta: dict[str, Any] = {
            "url": url,
            "date": date,
            "content_type": content_type,
            "charset": charset,
            "format": fmt,
            "warc_record_id": rid,
        }
        return Document(
            id=stable_id(rid, url),
            text=text,
            metadata=meta,
            provenance=Provenance(source=shard, offset=offset),
        )


class _EndCheck:
    """A read-through view of a WARC stream that checks, while fastwarc reads it, that the file ends
    cleanly: every gzip member closes, or a plain file ends a record. The file is read once (from an
    object store too), not a second time for the check."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self._head = b""
        self._gzip: bool | None = None
        self._d: Any = None
        self._pending = self._bad = False
        self._tail = b""
        self._size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        if data:
            self._feed(data)
        return data  # type: ignore[no-any-return]

    def tell(self) -> int:
        return self._size

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return True

    def _feed(self, data: bytes) -> None:
        self._size += len(data)
        self._tail = (self._tail + data)[-4:]
        if self._gzip is None:
            self._head += data
            if len(self._head) < 2:
                return
            self._gzip, data, self._head = self._head[:2] == b"\x1f\x8b", self._head, b""
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if not self._gzip or self._bad:
            return
        while data:
            try:
                self._d.decompress(data)
            except zlib.error:
                self._bad = True
                return
            self._pending = True
            if self._d.eof:
                data, self._d, self._pending = (
                    self._d.unused_data,
                    zlib.decompressobj(16 + zlib.MAX_WBITS),
                    False,
                )
            else:
                data = b""

    def ends_cleanly(self) -> bool:
        """Read what fastwarc left (if anything) and say whether the file is complete."""
        while self.read(1 << 20):
            pass
        if self._gzip:
            return not (self._bad or self._pending)
        return self._size == 0 or self._tail.endswith(b"\r\n\r\n")


class HtmlFolderReader(_WebReader):
    """HTML files (``.html``, ``.htm``) from folders or globs; each file is one document.

    The URL is the file's path unless a ``<link rel="canonical">`` names one; charset comes from
    ``<meta charset>`` or detection. Files over ``max_bytes`` are quarantined (``page_too_large``).
    """

    name = "pretrain.read_html"
    suffixes = (".html", ".htm", ".xhtml")

    def read_shard(self, shard: str, policy: ErrorPolicy) -> Iterator[Document]:
        try:
            size = storage.getsize(shard)
            if size > self.max_bytes:
                policy.bad(
                    path=shard, line=None, kind="page_too_large", reason=f"file over {self.max_bytes:,} bytes"
                )
                return
            with storage.open_input(shard) as fh:
                body = fh.read()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", path=shard) from None
        text, charset, _ = _to_text(body, None)
        url = "file://" + os.path.abspath(storage.local_path(shard)) if storage.is_local(shard) else shard
        yield Document(
            id=stable_id(url),
            text=text,
            metadata={
                "url": url,
                "date": None,
                "content_type": "text/html",
                "charset": charset,
                "format": "html",
            },
            provenance=Provenance(source=shard),
        )

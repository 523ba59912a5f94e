"""WARC/HTML readers on the real warcio fixtures, and bad input counted under named reasons."""

from __future__ import annotations

import gzip
import shutil

import pytest

from datamill.errors import InputError
from datamill.io.quarantine import ErrorPolicy, Quarantine
from datamill.pretrain import Extract, HtmlFolderReader, WarcReader, extract_text, sample_crawl_path
from datamill.pretrain.readers import warc_record


def read(reader, path):
    q = Quarantine()
    docs = list(reader.read_shard(str(path), ErrorPolicy("quarantine", q)))
    return docs, dict(q.counts)


def warc(url: str, body: bytes, ctype: str = "text/html; charset=utf-8", extra: str = "") -> bytes:
    return warc_record(url, body, content_type=ctype, http_headers=extra)


def test_warcio_fixtures_gzip_content_encoding_and_chunked(sample_data):
    r = WarcReader(paths=str(sample_data / "pretrain"))
    docs, bad = read(r, sample_data / "pretrain" / "warcio_example.warc.gz")
    assert bad == {}
    assert [d.metadata["url"] for d in docs] == ["http://example.com/"]  # response only, not request/warcinfo
    assert "<title>Example Domain</title>" in docs[0].text  # gzip Content-Encoding undone
    assert docs[0].metadata["date"] == "2017-03-06T04:02:06Z"
    assert docs[0].provenance.offset is not None
    docs, _ = read(r, sample_data / "pretrain" / "warcio_example-iana.org-chunked.warc")
    assert docs[0].text.lstrip().startswith("<!doctype html>")  # chunked transfer-encoding undone
    assert docs[0].text.rstrip().endswith("</html>")
    text, title = extract_text(docs[0].text)
    assert title == "Internet Assigned Numbers Authority"
    assert "The global coordination of the DNS Root" in text


def test_truncated_gzip_and_plain_warc_are_counted(sample_data, tmp_path):
    data = (sample_data / "pretrain" / "warcio_example.warc.gz").read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[:-300])
    docs, bad = read(WarcReader(paths=str(cut)), cut)
    assert bad == {"truncated_warc": 1}
    plain = (sample_data / "pretrain" / "warcio_example-iana.org-chunked.warc").read_bytes()
    cut2 = tmp_path / "cut.warc"
    cut2.write_bytes(plain[:-500])
    _, bad = read(WarcReader(paths=str(cut2)), cut2)
    assert bad == {"truncated_warc": 1}
    with pytest.raises(InputError, match="truncated|ends inside"):
        list(WarcReader(paths=str(cut), on_error="raise").read_shard(str(cut), ErrorPolicy("raise")))


def test_non_html_gigantic_unknown_charset_and_empty(tmp_path):
    page = "<html><body><p>" + "Plenty of words in a sentence. " * 20 + "</p></body></html>"
    path = tmp_path / "mixed.warc.gz"
    path.write_bytes(
        warc("https://a.example/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(300), "image/png")
        + warc("https://a.example/big", b"<html>" + b"x" * 3000 + b"</html>")
        + warc("https://a.example/odd", page.encode("latin-1"), "text/html; charset=x-made-up")
        + warc("https://a.example/empty", b"<html><body></body></html>")
        + warc("https://a.example/gz", gzip.compress(page.encode()), extra="Content-Encoding: gzip\r\n")
        + warc("https://a.example/badgz", b"not gzip at all", extra="Content-Encoding: gzip\r\n")
    )
    docs, bad = read(WarcReader(paths=str(path), max_bytes=2000), path)
    assert bad == {"non_html_payload": 1, "page_too_large": 1, "bad_http_encoding": 1}
    assert [d.metadata["url"] for d in docs] == [
        "https://a.example/odd",
        "https://a.example/empty",
        "https://a.example/gz",
    ]
    assert docs[0].metadata["charset_declared"] == "x-made-up"
    ex = Extract()
    kept = list(ex(docs))
    assert [d.metadata["url"] for d in kept] == ["https://a.example/odd", "https://a.example/gz"]
    assert ex.stats.dropped == {"empty_document": 1}
    assert ex.stats.counters["unknown_charset"] == 1
    assert kept[0].text.startswith("Plenty of words")


def test_html_folder_reader(tmp_path):
    (tmp_path / "a.html").write_text(
        "<html lang='de'><head><title>T</title></head><body><p>Hallo Welt, "
        "das ist ein Test.</p></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "big.htm").write_text("<p>" + "y" * 500 + "</p>")
    r = HtmlFolderReader(paths=str(tmp_path), max_bytes=400)
    q = Quarantine()
    docs = list(r.read(policy=ErrorPolicy("quarantine", q)))
    assert q.counts == {"page_too_large": 1}
    out = list(Extract()(docs))
    assert out[0].metadata["title"] == "T" and out[0].metadata["html_lang"] == "de"
    assert "Hallo Welt" in out[0].text


def test_trafilatura_engine_extracts_main_text():
    pytest.importorskip("trafilatura")
    html = (
        "<html><head><title>News</title></head><body><nav>Home | About</nav><article><p>"
        + "The council approved the new library budget after a long debate. " * 5
        + "</p></article><footer>Copyright</footer></body></html>"
    )
    text, title = extract_text(html, engine="trafilatura")
    assert "council approved" in text and "Copyright" not in text
    assert title == "News"


def test_sample_crawl_is_shipped_and_small(tmp_path):
    path = sample_crawl_path()
    assert path.endswith(".warc.gz")
    shutil.copy(path, tmp_path / "s.warc.gz")
    docs, bad = read(WarcReader(paths=str(tmp_path)), tmp_path / "s.warc.gz")
    assert len(docs) >= 200 and bad == {"non_html_payload": 2}
    assert (tmp_path / "s.warc.gz").stat().st_size < 1_000_000


def wet_record(url: str, text: str, lang: str | None = None) -> bytes:
    body = text.encode()
    extra = f"WARC-Identified-Content-Language: {lang}\r\n" if lang else ""
    head = (
        f"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Record-ID: <urn:uuid:{url}>\r\n"
        f"WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Target-URI: {url}\r\n{extra}Content-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + body + b"\r\n\r\n", mtime=0)


def test_wet_conversion_records_are_plain_text(tmp_path):
    path = tmp_path / "crawl.warc.wet.gz"
    warcinfo = gzip.compress(b"WARC/1.0\r\nWARC-Type: warcinfo\r\nContent-Length: 0\r\n\r\n\r\n\r\n", mtime=0)
    path.write_bytes(
        warcinfo
        + wet_record("https://a.example/1", "First line of text.\nSecond line.", "eng,deu")
        + wet_record("https://a.example/2", "x" * 3000)
    )
    docs, bad = read(WarcReader(paths=str(path), max_bytes=2000), path)
    assert bad == {"page_too_large": 1}
    assert [d.text for d in docs] == ["First line of text.\nSecond line."]
    assert docs[0].metadata["format"] == "text" and docs[0].metadata["warc_lang"] == "eng,deu"
    assert list(Extract()(docs))[0].text == "First line of text.\nSecond line."  # no HTML parsing of WET text

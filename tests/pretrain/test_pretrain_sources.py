"""Wikipedia XML dumps and books (Project Gutenberg text and EPUB) on real samples (tests/data),
read alone, through the default recipe locally and on Ray, and from a URL."""

from __future__ import annotations

import bz2
import shutil

import fsspec
import pytest

from datamill.errors import InputError
from datamill.io import ErrorPolicy, Quarantine, read_records
from datamill.pretrain import BookReader, WikipediaReader, make_reader, run_pretrain, strip_gutenberg

ARTICLES = [
    "Actrius",
    "International Atomic Time",
    "Alien",
    "Arithmetic mean",
    "Affirming the consequent",
    "Aardvark",
]


@pytest.fixture(scope="module")
def wiki(sample_data):
    return sample_data / "pretrain" / "wikipedia" / "enwiki-sample.xml.bz2"


@pytest.fixture(scope="module")
def books(sample_data):
    return sample_data / "pretrain" / "books"


def test_wikipedia_articles_only_as_clean_text(wiki):
    docs = list(WikipediaReader(paths=str(wiki)).read())
    # 3 redirects and the Wikipedia: (namespace 4) page are not articles
    assert [d.metadata["title"] for d in docs] == ARTICLES
    aardvark = docs[-1]
    assert aardvark.metadata["url"] == "https://en.wikipedia.org/wiki/Aardvark"
    assert aardvark.metadata["namespace"] == 0 and aardvark.metadata["wiki"] == "enwiki"
    assert aardvark.text.startswith("The aardvark (Orycteropus afer) is a medium-sized, burrowing, nocturnal")
    for junk in ("{{", "}}", "[[", "<ref", "'''", "Category:", "thumb|", "External links", "speciesbox"):
        assert junk not in aardvark.text, junk
    assert "\nTaxonomy\n" in aardvark.text  # headings stay, on their own lines
    assert len({d.id for d in docs}) == len(docs)
    tai = docs[1].text
    assert "International Atomic Time" in tai and "|" not in tai  # no table cells left over


def test_wikipedia_keeps_other_namespaces_when_asked(wiki):
    docs = list(WikipediaReader(paths=str(wiki), namespaces=[0, 4]).read())
    assert len(docs) == 6  # the namespace-4 page is a redirect too: still not a document


def test_wikipedia_truncated_dump_keeps_the_pages_before_the_damage(wiki, tmp_path):
    data = bz2.decompress(wiki.read_bytes())
    cut = data.index(b"<title>Aardvark</title>")
    bad = tmp_path / "cut.xml.bz2"
    bad.write_bytes(bz2.compress(data[:cut]))
    q = Quarantine()
    docs = list(WikipediaReader(paths=str(bad)).read(policy=ErrorPolicy("quarantine", q)))
    assert [d.metadata["title"] for d in docs] == ARTICLES[:-1]
    assert q.counts == {"truncated_xml": 1}
    with pytest.raises(InputError, match="cannot read the dump"):
        list(WikipediaReader(paths=str(bad), on_error="raise").read())


def test_gutenberg_text_and_epub_lose_the_licence(books):
    by = {d.metadata["book_format"]: d for d in BookReader(paths=str(books)).read()}
    txt, epub = by["txt"], by["epub"]
    assert txt.metadata["title"] == epub.metadata["title"] == "Alice's Adventures in Wonderland"
    assert txt.metadata["author"] == epub.metadata["author"] == "Lewis Carroll"
    assert txt.metadata["ebook"] == "11" and txt.metadata["gutenberg"] and epub.metadata["gutenberg"]
    for doc in (txt, epub):
        assert "Project Gutenberg" not in doc.text and "gutenberg.org" not in doc.text
        assert "START OF" not in doc.text and "FULL LICENSE" not in doc.text
        assert doc.text.rstrip().endswith("THE END")
        assert "Alice was beginning to get very tired of sitting by her sister" in " ".join(doc.text.split())
    words_txt, words_epub = len(txt.text.split()), len(epub.text.split())
    assert abs(words_txt - words_epub) / words_txt < 0.02  # the same book in both formats
    assert "[Illustration]" not in epub.text  # image alt texts are not text


def test_gutenberg_markers_older_forms_and_none():
    old = (
        "The Project Gutenberg EBook of X\n\nTitle: X\nAuthor: Y\n\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN "
        "ETEXTS*Ver.02/11/02*END*\n\nChapter 1\nBody text.\n\nEnd of the Project Gutenberg EBook of X\nlicence"
    )
    body, meta = strip_gutenberg(old)
    assert body == "Chapter 1\nBody text." and meta["title"] == "X" and meta["author"] == "Y"
    assert strip_gutenberg("Just a text.\r\n") == ("Just a text.", {"gutenberg": False})


def test_bad_epub_is_quarantined(tmp_path):
    (tmp_path / "bad.epub").write_bytes(b"PK\x03\x04 this is not a zip")
    q = Quarantine()
    assert list(BookReader(paths=str(tmp_path)).read(policy=ErrorPolicy("quarantine", q))) == []
    assert q.counts == {"bad_epub": 1}


def test_make_reader_picks_the_source_readers(wiki, books):
    assert isinstance(make_reader(str(wiki)), WikipediaReader)
    assert isinstance(make_reader(str(books)), BookReader)


def test_readers_read_urls(wiki, books):
    fs = fsspec.filesystem("memory")
    fs.put_file(str(wiki), "/srcs/enwiki.xml.bz2")
    fs.put_file(str(books / "pg11-alice.epub"), "/srcs/alice.epub")
    try:
        assert len(list(WikipediaReader(paths="memory://srcs/enwiki.xml.bz2").read())) == 6
        assert [d.metadata["title"] for d in BookReader(paths="memory://srcs").read()] == [
            "Alice's Adventures in Wonderland"
        ]
    finally:
        fs.rm("/srcs", recursive=True)


@pytest.fixture(scope="module")
def source_runs(tmp_path_factory, wiki, books):
    base = tmp_path_factory.mktemp("sources")
    shutil.copy(wiki, base / "enwiki.xml.bz2")
    runs = {
        "wiki": run_pretrain(str(base / "enwiki.xml.bz2"), base / "wiki-out", workers=1),
        "books": run_pretrain(str(books), base / "books-out", workers=2),
    }
    return base, runs


def texts(out) -> list[tuple[str, str]]:
    return [(r.id, r.text) for r in read_records(sorted((out / "data").glob("*.parquet")))]


def test_default_recipe_on_wikipedia_and_books(source_runs):
    base, runs = source_runs
    wiki, books = runs["wiki"], runs["books"]
    assert wiki.records_in == wiki.records_out == 6
    # no HTML extraction and no web-page heuristics for these sources: language ID, PII, dedup, tokens
    assert [s.name for s in wiki.steps][:2] == ["pretrain.langid", "pretrain.pii"]
    assert books.records_in == 2
    # the EPUB and the plain text are one book: near-duplicates, so only one is kept
    assert books.records_out == 1
    assert {t for _, t in texts(base / "wiki-out")} and (base / "books-out" / "report.html").exists()


@pytest.mark.ray
def test_sources_on_ray_give_the_same_documents(source_runs, ray_local, books):
    base, _ = source_runs
    run_pretrain(str(base / "enwiki.xml.bz2"), base / "wiki-ray", executor="ray", workers=2)
    run_pretrain(str(books), base / "books-ray", executor="ray", workers=2)
    assert texts(base / "wiki-ray") == texts(base / "wiki-out")
    assert texts(base / "books-ray") == texts(base / "books-out")

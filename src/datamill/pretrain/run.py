"""The default pre-training recipe and one pipeline per CLI verb.

``run_pretrain`` = read (WARC/WET/HTML/JSONL/Parquet) -> extract -> langid -> Gopher repetition ->
Gopher quality -> C4 -> FineWeb -> PII -> URL dedup -> exact dedup -> MinHash dedup -> token counts,
then, once over the whole output, fixed-size shards (``<output>/shards``, :class:`Shards`) and the
HTML report (``<output>/report.html``, :class:`Report`). :func:`default_recipe` is all of it as one
:class:`~datamill.recipes.Recipe`, the one ``datamill pretrain run --print-recipe`` prints.
"""

from __future__ import annotations

import os
from typing import Any

from datamill.errors import ConfigError
from datamill.io._files import expand_paths
from datamill.pipeline import (
    ExactDedup,
    JsonlReader,
    ParquetReader,
    Pipeline,
    Reader,
    RunResult,
    Step,
    Writer,
)
from datamill.pretrain.books import BookReader
from datamill.pretrain.decontam import Decontaminate
from datamill.pretrain.dedup import MinhashDedup, UrlDedup
from datamill.pretrain.extract import Extract
from datamill.pretrain.finish import Report, Shards, finish_run
from datamill.pretrain.langid import ENGINES as LANGID_ENGINES
from datamill.pretrain.langid import LanguageFilter
from datamill.pretrain.pii import PiiRedactor
from datamill.pretrain.quality import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    UrlFilter,
)
from datamill.pretrain.readers import HtmlFolderReader, WarcReader
from datamill.pretrain.semdedup import SemanticDedup
from datamill.pretrain.tokenize import TokenCount
from datamill.pretrain.wiki import WikipediaReader
from datamill.recipes import Finisher, Recipe

__all__ = [
    "Report",
    "Shards",
    "decontaminate_pipeline",
    "dedup_pipeline",
    "default_pipeline",
    "default_recipe",
    "extract_pipeline",
    "filter_pipeline",
    "finish_run",
    "make_reader",
    "quality_steps",
    "run_pretrain",
    "tokenize_pipeline",
]

_WEB = WarcReader.suffixes + HtmlFolderReader.suffixes
_DOCS = JsonlReader.suffixes + ParquetReader.suffixes
_SOURCES = WikipediaReader.suffixes + BookReader.suffixes


def make_reader(inputs: str | list[str], *, on_error: str = "quarantine") -> Reader:
    """The reader for ``inputs`` by file suffix: WARC/WET, HTML files, Wikipedia XML dumps
    (``.xml.bz2``), books (Gutenberg ``.txt``, ``.epub``), or JSONL/Parquet documents."""
    files = expand_paths(inputs, suffixes=_WEB + _DOCS + _SOURCES)
    kinds = set()
    for f in files:
        low = f.lower()
        if low.endswith(WarcReader.suffixes):
            kinds.add("warc")
        elif low.endswith(HtmlFolderReader.suffixes):
            kinds.add("html")
        elif low.endswith(WikipediaReader.suffixes):
            kinds.add("wikipedia")
        elif low.endswith(BookReader.suffixes):
            kinds.add("books")
        elif low.endswith(".parquet"):
            kinds.add("parquet")
        else:
            kinds.add("jsonl")
    if len(kinds) != 1:
        raise ConfigError(
            "inputs must be all WARC, all HTML, all Wikipedia dumps, all books, all JSONL or all Parquet; "
            f"found {sorted(kinds)}"
        )
    paths = [inputs] if isinstance(inputs, str) else list(inputs)
    kind = kinds.pop()
    if kind == "warc":
        return WarcReader(paths=paths, on_error=on_error)  # type: ignore[arg-type]
    if kind == "html":
        return HtmlFolderReader(paths=paths, on_error=on_error)  # type: ignore[arg-type]
    if kind == "wikipedia":
        return WikipediaReader(paths=paths, on_error=on_error)  # type: ignore[arg-type]
    if kind == "books":
        return BookReader(paths=paths, on_error=on_error)  # type: ignore[arg-type]
    cls = ParquetReader if kind == "parquet" else JsonlReader
    return cls(paths=paths, on_error=on_error, record_type="document")  # type: ignore[arg-type]


def _is_web(reader: Reader) -> bool:
    return isinstance(reader, WarcReader | HtmlFolderReader)


def _is_curated(reader: Reader) -> bool:
    """Edited sources (Wikipedia, books): language ID and dedup, not the web-page heuristics."""
    return isinstance(reader, WikipediaReader | BookReader)


def quality_steps(
    *,
    lang: str | None = "en",
    min_language_score: float = 0.65,
    blocklist: list[str] | None = None,
    langid: str = "fasttext",
    web: bool = True,
) -> list[Step]:
    """URL blocklist (if given), language ID, Gopher repetition + quality, C4, FineWeb (paper defaults).

    ``web=False`` (curated sources: Wikipedia, books) keeps only the blocklist and language ID: the
    other heuristics were tuned on web pages (Gopher's share of alphabetic words drops a novel with
    curly quotes and dialogue; C4's terminal punctuation rule drops headings and verse), so Dolma too
    runs language ID and dedup only on those sources."""
    if (
        langid not in LANGID_ENGINES
    ):  # checked here: LanguageFilter calls it engine, as the extractor's option is
        raise ConfigError(
            f"langid must be one of {', '.join(LANGID_ENGINES)}, got {langid!r}", params="langid"
        )
    if not 0 <= min_language_score <= 1:  # here too: LanguageFilter calls it min_score
        raise ConfigError(
            f"min_language_score must be between 0 and 1, got {min_language_score!r}",
            params="min_language_score",
        )
    steps: list[Step] = []
    if blocklist:
        steps.append(UrlFilter(domains=blocklist))
    engine: Any = langid
    steps.append(
        LanguageFilter(languages=[lang], min_score=min_language_score, engine=engine)
        if lang
        else LanguageFilter(engine=engine)
    )
    if not web:
        return steps
    if lang in (None, "en"):  # the heuristics (stop words, punctuation) are English-tuned
        steps += [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter()]
    else:
        steps += [GopherRepetitionFilter()]
    return steps


def default_pipeline(
    inputs: str | list[str],
    *,
    lang: str | None = "en",
    engine: str = "resiliparse",
    blocklist: list[str] | None = None,
    minhash_threshold: float = 0.65,
    tokenizer: str = "cl100k_base",
    eval_sets: list[str] | None = None,
    output_format: str = "parquet",
    langid: str = "fasttext",
) -> Pipeline:
    """The default pre-training recipe as a :class:`~datamill.pipeline.Pipeline`."""
    if not 0 < minhash_threshold < 1:  # here too: MinhashDedup calls it threshold
        raise ConfigError(
            f"minhash_threshold must be between 0 and 1, got {minhash_threshold!r}",
            params="minhash_threshold",
        )
    reader = make_reader(inputs)
    steps: list[Step] = []
    if _is_web(reader):
        steps.append(Extract(engine=engine))  # type: ignore[arg-type]
    steps += quality_steps(lang=lang, blocklist=blocklist, langid=langid, web=not _is_curated(reader))
    steps.append(PiiRedactor())
    if eval_sets:
        steps.append(Decontaminate(eval_sets=eval_sets))
    if _is_web(reader):
        steps.append(UrlDedup())
    steps += [ExactDedup(), MinhashDedup(threshold=minhash_threshold), TokenCount(tokenizer=tokenizer)]
    return Pipeline(steps, reader=reader, writer=Writer(format=output_format))


def extract_pipeline(
    inputs: str | list[str],
    *,
    engine: str = "resiliparse",
    main_content: bool = True,
    output_format: str = "parquet",
) -> Pipeline:
    """Read web dumps and extract main text (no filtering)."""
    reader = make_reader(inputs)
    if not _is_web(reader):
        raise ConfigError("extract needs WARC, WET or HTML inputs")
    return Pipeline(
        [Extract(engine=engine, main_content=main_content)],  # type: ignore[arg-type]
        reader=reader,
        writer=Writer(format=output_format),
    )


def filter_pipeline(
    inputs: str | list[str],
    *,
    lang: str | None = "en",
    min_language_score: float = 0.65,
    blocklist: list[str] | None = None,
    pii: bool = True,
    output_format: str = "parquet",
    langid: str = "fasttext",
    word_lists: list[str] | None = None,
) -> Pipeline:
    """Language ID and the quality filters (plus PII redaction) over documents (extracting web inputs first);
    ``word_lists``: also drop documents using words of these lists (:class:`WordListFilter`)."""
    reader = make_reader(inputs)
    steps: list[Step] = [Extract()] if _is_web(reader) else []
    steps += quality_steps(
        lang=lang,
        min_language_score=min_language_score,
        blocklist=blocklist,
        langid=langid,
        web=not _is_curated(reader),
    )
    if word_lists:
        from datamill.pretrain.wordlist import WordListFilter

        steps.append(WordListFilter(paths=list(word_lists)))
    if pii:
        steps.append(PiiRedactor())
    return Pipeline(steps, reader=reader, writer=Writer(format=output_format))


def dedup_pipeline(
    inputs: str | list[str],
    *,
    exact: bool = True,
    url: bool = True,
    minhash: bool = True,
    threshold: float = 0.65,
    num_perm: int = 128,
    ngram: int = 5,
    bands: int | None = None,
    rows: int | None = None,
    semantic: bool = False,
    semantic_threshold: float | None = None,
    output_format: str = "parquet",
) -> Pipeline:
    """URL, exact and MinHash near-duplicate removal across every input file; with ``semantic``, then
    SemDeDup (:class:`SemanticDedup`, cosine >= ``semantic_threshold``, default 0.8) on what MinHash kept."""
    if semantic_threshold is not None and not semantic:
        raise ConfigError("semantic_threshold needs semantic=True", params=("semantic_threshold", "semantic"))
    reader = make_reader(inputs)
    steps: list[Step] = [Extract()] if _is_web(reader) else []
    if url:
        steps.append(UrlDedup())
    if exact:
        steps.append(ExactDedup())
    if minhash:
        steps.append(
            MinhashDedup(threshold=threshold, num_perm=num_perm, ngram=ngram, bands=bands, rows=rows)
        )
    if semantic:
        steps.append(
            SemanticDedup() if semantic_threshold is None else SemanticDedup(threshold=semantic_threshold)
        )
    if len(steps) == (1 if _is_web(reader) else 0):
        raise ConfigError(
            "choose at least one of exact, url, minhash, semantic",
            params=("exact", "url", "minhash", "semantic"),
        )
    return Pipeline(steps, reader=reader, writer=Writer(format=output_format))


def decontaminate_pipeline(
    inputs: str | list[str],
    *,
    eval_sets: list[str],
    n: int = 13,
    action: str = "drop",
    output_format: str = "parquet",
) -> Pipeline:
    """Drop (or flag) documents sharing an ``n``-gram with the evaluation sets."""
    reader = make_reader(inputs)
    steps: list[Step] = [Extract()] if _is_web(reader) else []
    steps.append(Decontaminate(eval_sets=eval_sets, n=n, action=action))  # type: ignore[arg-type]
    return Pipeline(steps, reader=reader, writer=Writer(format=output_format))


def tokenize_pipeline(
    inputs: str | list[str], *, tokenizer: str = "cl100k_base", output_format: str = "parquet"
) -> Pipeline:
    """Count tokens of every document (``metadata["n_tokens"]``)."""
    reader = make_reader(inputs)
    steps: list[Step] = [Extract()] if _is_web(reader) else []
    steps.append(TokenCount(tokenizer=tokenizer))
    return Pipeline(steps, reader=reader, writer=Writer(format=output_format))


def default_recipe(
    inputs: str | list[str],
    output: str | os.PathLike[str] | None = None,
    *,
    lang: str = "en",
    executor: str = "local",
    workers: int | None = None,
    engine: str = "resiliparse",
    blocklist: list[str] | None = None,
    eval_sets: list[str] | None = None,
    minhash_threshold: float = 0.65,
    tokenizer: str = "cl100k_base",
    tokens_per_shard: int = 100_000_000,
    token_ids: bool = False,
    langid: str = "fasttext",
) -> Recipe:
    """The whole default pre-training run as a recipe: :func:`default_pipeline`, then shards and report
    (the arguments are :func:`run_pretrain`'s)."""
    pipe = default_pipeline(
        inputs,
        lang=lang or None,
        engine=engine,
        blocklist=blocklist,
        eval_sets=eval_sets,
        minhash_threshold=minhash_threshold,
        tokenizer=tokenizer,
        langid=langid,
    )
    finish: list[Finisher] = [
        Shards(tokenizer=tokenizer, tokens_per_shard=tokens_per_shard, token_ids=token_ids),
        Report(),
    ]
    return Recipe(
        pipeline=pipe,
        output=None if output is None else os.fspath(output),
        executor=executor,
        workers=workers,
        finish=finish,
    )


def run_pretrain(
    inputs: str | list[str],
    output: str | os.PathLike[str],
    *,
    lang: str = "en",
    executor: str = "local",
    workers: int | None = None,
    progress: bool = False,
    overwrite: bool = False,
    engine: str = "resiliparse",
    blocklist: list[str] | None = None,
    eval_sets: list[str] | None = None,
    minhash_threshold: float = 0.65,
    tokenizer: str = "cl100k_base",
    tokens_per_shard: int = 100_000_000,
    token_ids: bool = False,
    langid: str = "fasttext",
) -> RunResult:
    """Run the default pre-training recipe on ``inputs`` into ``output``; resumable.

    Args:
        inputs: WARC/WET files, HTML files, or JSONL/Parquet documents (paths, folders or globs).
        output: the run folder; rerunning into it resumes a killed run.
        lang: keep this language (ISO 639-1); ``""`` keeps all and skips the English-tuned filters.
        executor, workers: ``"local"`` (process pool) or ``"ray"``, and how many workers.
        engine: HTML extraction engine, ``"resiliparse"`` or ``"trafilatura"``.
        langid: language ID engine, ``"fasttext"`` (the default: lid.176, FineWeb's model and score) or ``"lingua"`` (about 18x slower).
        blocklist: blocked domains; eval_sets: decontaminate against these (13-gram).
        token_ids: also write uint32 token-id shards with offset indexes.

    Writes ``data/`` (one file per input), ``shards/`` (fixed-size Parquet shards with ``index.json``
    and token totals), ``dedup/`` (near-duplicates with cluster ids), ``quarantine/`` (bad input by
    kind), ``manifest.json`` and ``report.html``. The shard summary (with the token total) is in
    ``manifest.json`` under ``"shards"`` and the report path under ``"report"``.
    """
    recipe = default_recipe(
        inputs,
        output,
        lang=lang,
        executor=executor,
        workers=workers,
        engine=engine,
        blocklist=blocklist,
        eval_sets=eval_sets,
        minhash_threshold=minhash_threshold,
        tokenizer=tokenizer,
        tokens_per_shard=tokens_per_shard,
        token_ids=token_ids,
        langid=langid,
    )
    return recipe.run(progress=progress, overwrite=overwrite)

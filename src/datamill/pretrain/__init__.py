"""datamill.pretrain: web dumps (WARC, WET, HTML, JSONL/Parquet), Wikipedia dumps and books to clean,
deduplicated, tokenized shards.

Readers, extraction, language ID, Gopher/C4/FineWeb filters, PII, URL/exact/MinHash dedup,
decontamination, token counts and shards, and an HTML report; ``run_pretrain`` runs the default recipe.
Model-based filtering: ``annotate`` labels a sample with a teacher, ``train_classifier`` learns the
labels, ``ClassifierFilter`` / ``ClassifierTopFraction`` (``classify_pipeline``) apply the model at scale.
"""

from __future__ import annotations

import os

from datamill.pretrain.books import BookReader, epub_text, strip_gutenberg
from datamill.pretrain.classifier import HashedNgrams, TextClassifier, load_classifier
from datamill.pretrain.classify import ClassifierFilter, ClassifierTopFraction, classify_pipeline
from datamill.pretrain.decontam import Decontaminate
from datamill.pretrain.dedup import MinhashDedup, UrlDedup, normalize_url
from datamill.pretrain.extract import Extract, extract_text
from datamill.pretrain.langid import LanguageFilter, detect_language
from datamill.pretrain.minhash import band_hashes, minhash_signatures, near_duplicate_clusters
from datamill.pretrain.pii import PiiRedactor, luhn_ok, redact_pii
from datamill.pretrain.quality import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    UrlFilter,
    split_words,
)
from datamill.pretrain.readers import HtmlFolderReader, WarcReader
from datamill.pretrain.report import write_report
from datamill.pretrain.run import (
    Report,
    Shards,
    decontaminate_pipeline,
    dedup_pipeline,
    default_pipeline,
    default_recipe,
    extract_pipeline,
    filter_pipeline,
    finish_run,
    make_reader,
    run_pretrain,
    tokenize_pipeline,
)
from datamill.pretrain.semdedup import SemanticDedup
from datamill.pretrain.tokenize import TokenCount, shard_corpus
from datamill.pretrain.train import TrainResult, train_classifier
from datamill.pretrain.wiki import WikipediaReader, wikitext_to_text
from datamill.pretrain.wordlist import WordListFilter

__all__ = [
    "BookReader",
    "C4QualityFilter",
    "ClassifierFilter",
    "ClassifierTopFraction",
    "Decontaminate",
    "Extract",
    "FineWebQualityFilter",
    "GopherQualityFilter",
    "GopherRepetitionFilter",
    "HashedNgrams",
    "HtmlFolderReader",
    "LanguageFilter",
    "MinhashDedup",
    "PiiRedactor",
    "Report",
    "SemanticDedup",
    "Shards",
    "TextClassifier",
    "TokenCount",
    "TrainResult",
    "UrlDedup",
    "UrlFilter",
    "WarcReader",
    "WikipediaReader",
    "WordListFilter",
    "band_hashes",
    "classify_pipeline",
    "decontaminate_pipeline",
    "dedup_pipeline",
    "default_pipeline",
    "default_recipe",
    "detect_language",
    "epub_text",
    "extract_pipeline",
    "extract_text",
    "filter_pipeline",
    "finish_run",
    "load_classifier",
    "luhn_ok",
    "make_reader",
    "minhash_signatures",
    "near_duplicate_clusters",
    "normalize_url",
    "redact_pii",
    "run_pretrain",
    "sample_crawl_path",
    "shard_corpus",
    "split_words",
    "strip_gutenberg",
    "tokenize_pipeline",
    "train_classifier",
    "wikitext_to_text",
    "write_report",
]


def sample_crawl_path() -> str:
    """The sample crawl shipped with datamill (a small WARC.gz of real and planted pages)."""
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "crawl", "sample.warc.gz")

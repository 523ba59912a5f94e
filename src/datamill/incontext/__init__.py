"""In-context learning and RAG: chunk, index, retrieve, select few-shot examples, pack prompts, evaluate,
judge generated answers.

from datamill.incontext import chunk_documents, build_index, load_index, pack_prompt
chunks = list(chunk_documents(docs, method="markdown", max_tokens=256))
build_index(chunks, "index/", kind="hybrid")
hits = load_index("index/").search("how do refunds work?", k=5)
prompt = pack_prompt("how do refunds work?", passages=[h.chunk for h in hits], budget=2048)
"""

from datamill.incontext.chunk import CHUNK_METHODS, chunk_document, chunk_documents
from datamill.incontext.decontam import flag_contaminated
from datamill.incontext.evaluate import BeirData, EvalResult, evaluate_retrieval, load_beir, score_run
from datamill.incontext.hybrid import FusionTuning, cross_fit_fusion, estimate_fusion, tune_fusion
from datamill.incontext.index import (
    INDEX_KINDS,
    BM25Index,
    DenseIndex,
    Hit,
    HybridIndex,
    Index,
    build_index,
    load_index,
    parse_filters,
)
from datamill.incontext.judge import METRICS, AnswerScores, JudgeReport, judge_answers, read_rag_rows
from datamill.incontext.pack import PackedPrompt, pack_prompt, retrieve_and_pack
from datamill.incontext.select import STRATEGIES, FewShotSelector, evaluate_selection, example_io

__all__ = [
    "AnswerScores",
    "BM25Index",
    "BeirData",
    "CHUNK_METHODS",
    "DenseIndex",
    "EvalResult",
    "FewShotSelector",
    "FusionTuning",
    "Hit",
    "HybridIndex",
    "INDEX_KINDS",
    "Index",
    "JudgeReport",
    "METRICS",
    "PackedPrompt",
    "STRATEGIES",
    "build_index",
    "chunk_document",
    "chunk_documents",
    "cross_fit_fusion",
    "estimate_fusion",
    "evaluate_retrieval",
    "evaluate_selection",
    "example_io",
    "flag_contaminated",
    "judge_answers",
    "load_beir",
    "load_index",
    "pack_prompt",
    "parse_filters",
    "read_rag_rows",
    "retrieve_and_pack",
    "score_run",
    "tune_fusion",
]

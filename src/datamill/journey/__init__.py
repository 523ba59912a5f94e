"""The whole life of LLM data on the shipped sample, offline, with lineage from crawl to diagnosis.

    crawl (WARC) → pretrain clean → chunk + index (incontext) → grounded Q&A, other phrasings of each
    question, a second answer and a judge that checks both against the passage (synthetic; a local
    fake OpenAI-compatible server) → human check (feedback; simulated annotators in the app's real
    database) → fine-tune set, validated (finetune) → a toy model's mistakes on held-out questions,
    diagnosed (diagnose)

The data has the flaws real data has, each with a known origin, so the diagnosis has something true
to find (see docs/journey.md):

* questions about every fourth page are held out of training: the model has **never seen** them;
* the simulated annotators prefer the worse answer 15% of the time, and the majority vote lets a few
  of those through: **noisy** labels, or **inconsistent** ones where the phrasings of one question
  now disagree (as do the same question asked of two copies of a page with different text);
* the index also holds an out-of-date copy of one held-out page with other figures (planted, and
  marked so in its metadata and provenance): retrieval returns both, a **contradictory context**.

Every file written holds datamill records with provenance, so ``datamill lineage ID --in DIR``
walks any fine-tune example back to the crawled page and byte offset it came from.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from datamill.journey.checking import diagnose_stage, feedback_stage, finetune_stage
from datamill.journey.making import index_stage, pretrain_stage, synthetic_stage
from datamill.journey.result import JourneyResult

__all__ = ["JourneyResult", "run_journey"]


def run_journey(
    directory: str | os.PathLike[str],
    *,
    executor: str = "local",
    workers: int | None = 2,
    max_chunks: int = 40,
    log: Callable[[str], None] = print,
) -> JourneyResult:
    """Run every stage under ``directory`` (each in its own numbered folder) and check lineage.

    Args:
        directory: the journey's folder (its numbered stage folders are replaced).
        executor, workers: where the pre-training shards run (``local`` or ``ray``) and on how many workers.
        max_chunks: pages (chunks) the teacher writes questions about, spread over the corpus.
        log: told each stage as it starts.
    """
    from datamill.lineage import LineageIndex

    t0 = time.time()
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    res = JourneyResult(root=str(root))
    log("1/6 pretrain: extract, filter, dedup, redact the sample crawl")
    docs = pretrain_stage(root, res, executor=executor, workers=workers)
    log("2/6 incontext: chunk and index")
    index, picked, held_pages = index_stage(root, res, docs, max_chunks=max_chunks)
    log("3/6 synthetic: teacher Q&A, other phrasings, unsourced answers, a judge that reads the passage")
    syn = synthetic_stage(root, res, picked, held_pages)
    log("4/6 feedback: annotators check the judged pairs")
    judgements, checked = feedback_stage(root, res, syn.judged)
    log("5/6 finetune: export and validate")
    train = finetune_stage(root, res, judgements, checked)
    log("6/6 diagnose: a toy model's mistakes")
    diagnose_stage(root, res, index, syn, train, held_pages)

    # lineage: every exported fine-tune example must trace back to a crawled page
    lineage = LineageIndex(root)
    res.lineage_complete = sum(lineage.node(i).complete() for i in res.finetune_ids)
    res.seconds = time.time() - t0
    return res

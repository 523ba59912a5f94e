"""The whole life of LLM data on the shipped sample, offline, with lineage from crawl to diagnosis.

    crawl (WARC) → pretrain clean → chunk + index (incontext) → grounded Q&A and judged answer pairs
    from a teacher (synthetic; a local fake OpenAI-compatible server) → human check (feedback;
    simulated annotators in the app's real database) → fine-tune set, validated (finetune) → a toy
    model's mistakes on held-out questions, diagnosed (diagnose)

Every file written holds datamill records with provenance, so ``datamill lineage ID --in DIR``
walks any fine-tune example back to the crawled page and byte offset it came from.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamill.records import Document, Example, Judgement, Message, Preference, Provenance

__all__ = ["JourneyResult", "run_journey"]

_WORD = re.compile(r"\w+")


@dataclass
class JourneyResult:
    """Per-stage counts and outputs, and the lineage check of every exported fine-tune example."""

    root: str
    stages: list[dict[str, Any]] = field(default_factory=list)
    finetune_ids: list[str] = field(default_factory=list)
    lineage_complete: int = 0
    seconds: float = 0.0

    def stage(self, name: str, n_in: int, n_out: int, note: str, where: str) -> None:
        self.stages.append({"stage": name, "in": n_in, "out": n_out, "note": note, "where": where})


def _f1(a: str, b: str) -> float:
    x, y = _WORD.findall(a.lower()), _WORD.findall(b.lower())
    common = sum(min(x.count(w), y.count(w)) for w in set(x))
    if not common:
        return 0.0
    p, r = common / len(x), common / len(y)
    return 2 * p * r / (p + r)


def run_journey(directory: str | os.PathLike[str], *, workers: int | None = 2, max_chunks: int = 40,
                log: Callable[[str], None] = print) -> JourneyResult:
    """Run every stage under ``directory`` (each in its own numbered folder) and check lineage."""
    from datamill.diagnose import diagnose, write_report
    from datamill.feedback import simulate_project
    from datamill.feedback.db import Database
    from datamill.feedback.export import export_rows
    from datamill.finetune import validate, write_examples
    from datamill.incontext import build_index, chunk_documents
    from datamill.io import read_records, write_jsonl
    from datamill.lineage import LineageIndex
    from datamill.pretrain import run_pretrain, sample_crawl_path
    from datamill.synthetic import FakeServer, Judge, qa_from_docs, respond

    t0 = time.time()
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    res = JourneyResult(root=str(root))

    # 1. pre-training: the crawl becomes clean, deduplicated, tokenized documents
    log("1/6 pretrain: extract, filter, dedup, redact the sample crawl")
    pre = run_pretrain(sample_crawl_path(), root / "1-pretrain", workers=workers, overwrite=True)
    docs = [d for d in read_records(root / "1-pretrain" / "data") if isinstance(d, Document)]
    res.stage("pretrain", pre.records_in, len(docs), "WARC records → clean documents", str(root / "1-pretrain"))

    # 2. in-context: chunk and index them
    log("2/6 incontext: chunk and index")
    chunks = list(chunk_documents(docs, method="paragraphs", max_tokens=160, overlap=0, min_chars=200))
    write_jsonl(chunks, root / "2-incontext" / "chunks.jsonl.zst")
    index = build_index(chunks, root / "2-incontext" / "index", kind="hybrid")
    res.stage("incontext", len(docs), len(chunks), "chunks in a hybrid (BM25 + MiniLM) index",
              str(root / "2-incontext"))

    # 3. synthetic: a teacher writes grounded Q&A, a second answer, and judges the pairs
    log("3/6 synthetic: teacher Q&A, alternative answers, LLM-as-judge")
    step = max(1, len(chunks) // max_chunks)
    picked = chunks[::step][:max_chunks]
    cache = str(root / "3-synthetic" / "cache.sqlite")
    os.makedirs(root / "3-synthetic", exist_ok=True)
    with FakeServer(model="teacher-large") as server:
        teacher = {"type": "openai", "base_url": server.url, "model": "teacher-large"}
        qa = qa_from_docs(picked, teacher, cache=cache)
        questions = [Example(id=f"{q.id}-q", input=q.input, provenance=Provenance(step="journey.question",
                                                                                   parents=[q.id])) for q in qa]
        alt = respond(questions, teacher, cache=cache, temperature=1.0, seed=7)
        by_parent = {a.provenance.parents[0]: a for a in alt if a.provenance.parents}
        pairs = []
        for q in qa:
            other = by_parent.get(f"{q.id}-q")
            if other is None or not other.output or other.output.strip() == (q.output or "").strip():
                continue
            pairs.append(Preference(prompt=q.input or "", chosen=q.output or "", rejected=other.output,
                                    provenance=Provenance(step="journey.pair", parents=[q.id, other.id])))
        judged = list(Judge(teacher=teacher, mode="pairwise", cache=cache)(pairs))
        requests = server.requests
    write_jsonl(qa, root / "3-synthetic" / "qa.jsonl")
    write_jsonl(questions, root / "3-synthetic" / "questions.jsonl")
    write_jsonl(alt, root / "3-synthetic" / "alternatives.jsonl")
    write_jsonl(pairs, root / "3-synthetic" / "pairs.jsonl")
    write_jsonl(judged, root / "3-synthetic" / "judged.jsonl")
    res.stage("synthetic", len(picked), len(judged),
              f"{len(qa)} Q&A, {len(pairs)} pairs judged ({requests} teacher requests)", str(root / "3-synthetic"))

    # 4. feedback: people check the judged pairs (simulated annotators, the app's real database)
    log("4/6 feedback: annotators check the judged pairs")
    db_url = f"sqlite:///{(root / '4-feedback' / 'feedback.db').resolve()}"
    os.makedirs(root / "4-feedback", exist_ok=True)
    if os.path.exists(root / "4-feedback" / "feedback.db"):
        os.remove(root / "4-feedback" / "feedback.db")
    exported = simulate_project(db_url, judged, annotators=3, seed=0, project="journey")
    db = Database(db_url)
    try:
        raw = export_rows(db, "journey", "raw")
    finally:
        db.dispose()
    judgements = [Judgement(id=f"judgement-{r['judgement_id']}", annotator=str(r["annotator"]), task=str(r["task_id"]),
                            value=r["value"], provenance=Provenance(source=db_url, step="feedback.submit",
                                                                    annotator=str(r["annotator"]),
                                                                    parents=[str(r["task_id"])]))
                  for r in raw]
    write_jsonl(judgements, root / "4-feedback" / "judgements.jsonl")
    write_jsonl(exported, root / "4-feedback" / "dpo.jsonl")
    res.stage("feedback", len(judged), len(exported), f"{len(judgements)} judgements by 3 annotators",
              str(root / "4-feedback"))

    # 5. fine-tuning: preference and SFT sets from the human-checked pairs, validated
    log("5/6 finetune: export and validate")
    by_task: dict[str, list[str]] = {}
    for j in judgements:
        by_task.setdefault(j.task, []).append(j.id)
    prefs, sft = [], []
    for p in exported:
        task = p.provenance.parents[0] if p.provenance.parents else ""
        parents = by_task.get(task, []) or [p.id]
        prompt = [Message(role="user", content=p.prompt if isinstance(p.prompt, str) else str(p.prompt))]
        prefs.append(Preference(prompt=prompt, chosen=p.chosen, rejected=p.rejected, scores=p.scores,
                                provenance=Provenance(step="finetune.export", parents=parents)))
        sft.append(Example(messages=[*prompt, Message(role="assistant", content=str(p.chosen))],
                           provenance=Provenance(step="finetune.export", parents=parents)))
    ft = root / "5-finetune"
    write_examples(prefs, ft / "dpo.jsonl", format="openai_dpo", keep_ids=True)
    write_examples(sft, ft / "sft.jsonl", format="openai", keep_ids=True)
    write_jsonl([*prefs, *sft], ft / "records.jsonl")
    report = validate(ft / "sft.jsonl")
    res.finetune_ids = [r.id for r in [*prefs, *sft]]
    res.stage("finetune", len(exported), len(prefs) + len(sft),
              f"{len(prefs)} DPO + {len(sft)} SFT; validate: {report.errors} errors, {report.warnings} warnings",
              str(ft))

    # 6. diagnosis: a toy model (copies the answer of the most similar training question) on held-out Q&A
    log("6/6 diagnose: a toy model's mistakes")
    train_q = {str(e.messages[0].content): str(e.messages[1].content) for e in sft if e.messages}
    held_out = [q for q in qa if (q.input or "") not in train_q] or qa[: max(1, len(qa) // 3)]
    train_index = build_index([Document(id=str(i), text=q) for i, q in enumerate(train_q)], kind="bm25") \
        if train_q else None
    keys = list(train_q)
    results = []
    for q in held_out:
        hits = train_index.search(q.input or "?", k=1) if train_index is not None else []
        answer = train_q[keys[int(hits[0].chunk.id)]] if hits else ""
        context = [h.chunk.text for h in index.search(q.input or "?", k=3)]
        results.append({"id": q.id, "input": q.input, "expected": q.output, "output": answer,
                        "correct": _f1(answer, q.output or "") >= 0.5, "contexts": context})
    write_jsonl(results, root / "6-diagnose" / "results.jsonl")
    diag = diagnose(results, [e.to_dict() for e in sft])
    html, _ = write_report(diag, root / "6-diagnose" / "report.html")
    wrong = sum(not r["correct"] for r in results)
    res.stage("diagnose", len(results), wrong, "mistakes traced to data causes", html)

    # lineage: every exported fine-tune example must trace back to a crawled page
    lineage = LineageIndex(root)
    res.lineage_complete = sum(lineage.node(i).complete() for i in res.finetune_ids)
    res.seconds = time.time() - t0
    return res

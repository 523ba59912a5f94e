"""Where the journey's data is made: 1. pre-training cleans the crawl, 2. in-context chunks and indexes it
(beside a planted out-of-date copy of one page), 3. a teacher writes grounded Q&A, other phrasings of each
question, a second answer without the passage, and a judge picks between the two."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datamill.journey.result import (
    GROUNDED_PROMPT,
    HELD_OUT_EVERY,
    HELD_OUT_PHRASINGS,
    NUMBER,
    PHRASINGS,
    SYSTEM,
    JourneyResult,
)
from datamill.records import Document, Example, Message, Preference, Provenance, stable_id

__all__ = ["Synthetic", "index_stage", "pretrain_stage", "synthetic_stage"]


def _other_figures(text: str) -> str:
    """The same text with every figure changed (a year four years earlier, other numbers a fifth higher)."""

    def change(m: re.Match[str]) -> str:
        value = m.group(0)
        if "." in value:
            whole, frac = value.split(".")
            return f"{int(whole) + 1}.{frac}"
        n = int(value)
        return str(n - 4) if 1800 <= n <= 2100 else str(n + max(1, n // 5))

    return NUMBER.sub(change, text)


def _stale_copy(chunk: Document) -> Document:
    """An out-of-date copy of ``chunk`` with other figures, marked as planted in metadata and provenance."""
    return Document(
        text=_other_figures(chunk.text),
        metadata={
            **chunk.metadata,
            "planted": "an out-of-date copy of this page with other figures, "
            "so the diagnosis has a real contradiction to find",
        },
        provenance=Provenance(step="journey.stale_copy", parents=[chunk.id]),
    )


@dataclass
class Synthetic:
    """What the synthetic stage made: the Q&A, each question's phrasings, and the judged pairs."""

    qa: list[Example]
    phrasings: dict[str, list[Example]]
    judged: list[Preference]

    @property
    def fact(self) -> dict[str, Example]:
        return {q.id: q for q in self.qa}


def pretrain_stage(root: Path, res: JourneyResult, *, executor: str, workers: int | None) -> list[Document]:
    """1. pre-training: the crawl becomes clean, deduplicated, tokenized documents."""
    from datamill.io import read_records
    from datamill.pretrain import run_pretrain, sample_crawl_path

    pre = run_pretrain(
        sample_crawl_path(), root / "1-pretrain", executor=executor, workers=workers, overwrite=True
    )
    docs = [d for d in read_records(root / "1-pretrain" / "data") if isinstance(d, Document)]
    res.stage(
        "pretrain", pre.records_in, len(docs), "WARC records → clean documents", str(root / "1-pretrain")
    )
    return docs


def index_stage(
    root: Path, res: JourneyResult, docs: list[Document], *, max_chunks: int
) -> tuple[Any, list[Document], set[str]]:
    """2. in-context: chunk and index the documents (the index also holds a planted out-of-date copy of one
    page). Returns the index, the chunks the teacher writes about, and the pages held out of training."""
    from datamill.incontext import build_index, chunk_documents
    from datamill.io import write_jsonl

    chunks = list(chunk_documents(docs, method="paragraphs", max_tokens=160, overlap=0, min_chars=200))
    step = max(1, len(chunks) // max_chunks)
    picked = chunks[::step][:max_chunks]
    held_pages = {c.id for c in picked[HELD_OUT_EVERY - 1 :: HELD_OUT_EVERY]}
    target = next((c for c in picked if c.id in held_pages and NUMBER.search(c.text)), None) or next(
        (c for c in picked if NUMBER.search(c.text)), None
    )
    stale = [_stale_copy(target)] if target is not None else []
    if target is not None:
        held_pages.add(target.id)
    write_jsonl([*chunks, *stale], root / "2-incontext" / "chunks.jsonl.zst")
    index = build_index([*chunks, *stale], root / "2-incontext" / "index", kind="hybrid")
    res.stage(
        "incontext",
        len(docs),
        len(chunks) + len(stale),
        f"chunks in a hybrid (BM25 + MiniLM) index, {len(stale)} of them a planted out-of-date copy",
        str(root / "2-incontext"),
    )
    return index, picked, held_pages


def _phrasings(train_qa: list[Example], teacher: dict[str, Any], cache: str) -> dict[str, list[Example]]:
    """Each training question as first asked, then in PHRASINGS + HELD_OUT_PHRASINGS other words."""
    from datamill.synthetic import Rewrite

    asked = [
        Example(
            id=f"{q.id}-q",
            input=q.input,
            metadata={"qa": q.id},
            provenance=Provenance(step="journey.question", parents=[q.id]),
        )
        for q in train_qa
    ]
    phrasings: dict[str, list[Example]] = {q.id: [a] for q, a in zip(train_qa, asked, strict=True)}
    for k in range(1, PHRASINGS + HELD_OUT_PHRASINGS + 1):
        for r in Rewrite(
            teacher=teacher,
            instruction="asks the same question in other words",
            field="input",
            seed=k,
            cache=cache,
        )(asked):
            r.id = f"{r.metadata['qa']}-q{k}"  # two pages can raise the same question: ids stay apart
            phrasings[r.metadata["qa"]].append(r)  # type: ignore[arg-type]
    return phrasings


def _pairs(questions: list[Example], fact: dict[str, Example], alt: list[Any]) -> list[Preference]:
    """The grounded answer against the unsourced one for each question, in no particular order."""
    by_question = {a.provenance.parents[0]: a for a in alt if a.provenance.parents}
    pairs = []
    for p in questions:
        q, other = fact[p.metadata["qa"]], by_question.get(p.id)
        if other is None or not other.output or other.output.strip() == (q.output or "").strip():
            continue
        prompt = [
            Message(role="system", content=SYSTEM),
            Message(
                role="user",
                content=GROUNDED_PROMPT.format(passage=q.metadata["context"], question=p.input or ""),
            ),
        ]
        a, b = q.output or "", other.output
        if stable_id(p.id) < "8":  # the candidates in no particular order: the judge must read them
            a, b = b, a
        # metadata is for counting afterwards; the judge is shown only the prompt and the two answers
        pairs.append(
            Preference(
                prompt=prompt,
                chosen=a,
                rejected=b,
                metadata={"question": p.input, "passage_answer": q.output},
                provenance=Provenance(step="journey.pair", parents=[q.id, other.id]),
            )
        )
    return pairs


def synthetic_stage(
    root: Path, res: JourneyResult, picked: list[Document], held_pages: set[str]
) -> Synthetic:
    """3. synthetic: a teacher writes grounded Q&A and rephrases each question; a second answer comes from a
    teacher that did not see the passage; a judge given the passage picks the better answer."""
    from datamill.io import write_jsonl
    from datamill.synthetic import FakeServer, Judge, qa_from_docs, respond

    cache = str(root / "3-synthetic" / "cache.sqlite")
    os.makedirs(root / "3-synthetic", exist_ok=True)
    if os.path.exists(cache):  # a rerun asks the teacher again, so its counts are the first run's
        os.remove(cache)
    with FakeServer(model="teacher-large") as server:
        teacher = {"type": "openai", "base_url": server.url, "model": "teacher-large"}
        qa = qa_from_docs(picked, teacher, cache=cache)
        train_qa = [q for q in qa if q.metadata.get("chunk_id") not in held_pages]
        phrasings = _phrasings(train_qa, teacher, cache)
        questions = [p for ps in phrasings.values() for p in ps[: PHRASINGS + 1]]
        alt = respond(questions, teacher, cache=cache, temperature=1.0, seed=7)
        pairs = _pairs(questions, {q.id: q for q in qa}, alt)
        judge = Judge(teacher=teacher, mode="pairwise", cache=cache)
        judged = [j for j in judge(pairs) if isinstance(j, Preference)]
        res.requests = server.requests
    grounded_won = sum(j.chosen == j.metadata.get("passage_answer") for j in judged)
    write_jsonl(qa, root / "3-synthetic" / "qa.jsonl")
    write_jsonl([p for ps in phrasings.values() for p in ps], root / "3-synthetic" / "questions.jsonl")
    write_jsonl(alt, root / "3-synthetic" / "alternatives.jsonl")
    write_jsonl(pairs, root / "3-synthetic" / "pairs.jsonl")
    write_jsonl(judged, root / "3-synthetic" / "judged.jsonl")
    res.stage(
        "synthetic",
        len(picked),
        len(judged),
        f"{len(qa)} Q&A ({len(qa) - len(train_qa)} held out), {len(questions)} phrasings; the grounded "
        f"answer won {grounded_won}/{len(judged)} judged pairs",
        str(root / "3-synthetic"),
    )
    return Synthetic(qa=qa, phrasings=phrasings, judged=judged)

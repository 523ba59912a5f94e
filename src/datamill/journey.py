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
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamill.records import Document, Example, Judgement, Message, Preference, Provenance, stable_id

__all__ = ["JourneyResult", "run_journey"]

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
HELD_OUT_EVERY = 4  # questions about every 4th page are kept out of training
PHRASINGS = 3  # each training question is also asked in this many other words
HELD_OUT_PHRASINGS = 2  # and in this many more, held out of training
SYSTEM = "Answer the user's question from the passage they give, and only from it."
GROUNDED_PROMPT = "<passage>\n{passage}\n</passage>\n\n{question}"


@dataclass
class JourneyResult:
    """Per-stage counts and outputs, and the lineage check of every exported fine-tune example."""

    root: str
    stages: list[dict[str, Any]] = field(default_factory=list)
    finetune_ids: list[str] = field(default_factory=list)
    lineage_complete: int = 0
    seconds: float = 0.0
    causes: dict[str, int] = field(default_factory=dict)
    requests: int = 0

    def stage(self, name: str, n_in: int, n_out: int, note: str, where: str) -> None:
        self.stages.append({"stage": name, "in": n_in, "out": n_out, "note": note, "where": where})


def _f1(a: str, b: str) -> float:
    x, y = _WORD.findall(a.lower()), _WORD.findall(b.lower())
    common = sum(min(x.count(w), y.count(w)) for w in set(x))
    if not common:
        return 0.0
    p, r = common / len(x), common / len(y)
    return 2 * p * r / (p + r)


def _text(value: Any) -> str:
    """The text of an answer: a string, or the last message of a message list."""
    if isinstance(value, list) and value:
        last = value[-1]
        return str(
            last.content
            if isinstance(last, Message)
            else last.get("content", "")
            if isinstance(last, dict)
            else last
        )
    return str(value or "")


def _other_figures(text: str) -> str:
    """The same text with every figure changed (a year four years earlier, other numbers a fifth higher)."""

    def change(m: re.Match[str]) -> str:
        value = m.group(0)
        if "." in value:
            whole, frac = value.split(".")
            return f"{int(whole) + 1}.{frac}"
        n = int(value)
        return str(n - 4) if 1800 <= n <= 2100 else str(n + max(1, n // 5))

    return _NUMBER.sub(change, text)


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
    docs = _pretrain(root, res, executor=executor, workers=workers)
    log("2/6 incontext: chunk and index")
    index, picked, held_pages = _index(root, res, docs, max_chunks=max_chunks)
    log("3/6 synthetic: teacher Q&A, other phrasings, unsourced answers, a judge that reads the passage")
    syn = _synthetic(root, res, picked, held_pages)
    log("4/6 feedback: annotators check the judged pairs")
    judgements, checked = _feedback(root, res, syn.judged)
    log("5/6 finetune: export and validate")
    train = _finetune(root, res, judgements, checked)
    log("6/6 diagnose: a toy model's mistakes")
    _diagnose(root, res, index, syn, train, held_pages)

    # lineage: every exported fine-tune example must trace back to a crawled page
    lineage = LineageIndex(root)
    res.lineage_complete = sum(lineage.node(i).complete() for i in res.finetune_ids)
    res.seconds = time.time() - t0
    return res


@dataclass
class _Synthetic:
    """What the synthetic stage made: the Q&A, each question's phrasings, and the judged pairs."""

    qa: list[Example]
    phrasings: dict[str, list[Example]]
    judged: list[Preference]

    @property
    def fact(self) -> dict[str, Example]:
        return {q.id: q for q in self.qa}


def _pretrain(root: Path, res: JourneyResult, *, executor: str, workers: int | None) -> list[Document]:
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


def _index(
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
    target = next((c for c in picked if c.id in held_pages and _NUMBER.search(c.text)), None) or next(
        (c for c in picked if _NUMBER.search(c.text)), None
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


def _synthetic(root: Path, res: JourneyResult, picked: list[Document], held_pages: set[str]) -> _Synthetic:
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
    return _Synthetic(qa=qa, phrasings=phrasings, judged=judged)


def _feedback(
    root: Path, res: JourneyResult, judged: list[Preference]
) -> tuple[list[Judgement], list[tuple[Preference, Preference]]]:
    """4. feedback: people check the judged pairs (simulated annotators, the app's real database). Returns
    the judgements and each exported (human-checked) pair beside the judged pair it came from."""
    from datamill.feedback import simulate_project
    from datamill.feedback.db import Database
    from datamill.feedback.export import export_rows
    from datamill.io import write_jsonl

    db_url = f"sqlite:///{(root / '4-feedback' / 'feedback.db').resolve()}"
    os.makedirs(root / "4-feedback", exist_ok=True)
    if os.path.exists(root / "4-feedback" / "feedback.db"):
        os.remove(root / "4-feedback" / "feedback.db")
    exported = simulate_project(db_url, judged, annotators=3, seed=0, noise=0.15, project="journey")
    db = Database(db_url)
    try:
        raw = export_rows(db, "journey", "raw")
    finally:
        db.dispose()
    judgements = [
        Judgement(
            id=f"judgement-{r['judgement_id']}",
            annotator=str(r["annotator"]),
            task=str(r["task_id"]),
            value=r["value"],
            provenance=Provenance(
                source=db_url,
                step="feedback.submit",
                annotator=str(r["annotator"]),
                parents=[str(r["task_id"])],
            ),
        )
        for r in raw
    ]
    write_jsonl(judgements, root / "4-feedback" / "judgements.jsonl")
    write_jsonl(exported, root / "4-feedback" / "dpo.jsonl")
    pair_of = {j.id: j for j in judged}
    checked = [
        (p, pair_of[p.provenance.parents[0]])
        for p in exported
        if p.provenance.parents and p.provenance.parents[0] in pair_of
    ]
    overruled = sum(_text(p.chosen) != j.metadata["passage_answer"] for p, j in checked)
    res.stage(
        "feedback",
        len(judged),
        len(exported),
        f"{len(judgements)} judgements by 3 annotators; {overruled} majorities chose the unsourced answer",
        str(root / "4-feedback"),
    )
    return judgements, checked


def _finetune(
    root: Path,
    res: JourneyResult,
    judgements: list[Judgement],
    checked: list[tuple[Preference, Preference]],
) -> list[dict[str, Any]]:
    """5. fine-tuning: preference and SFT sets from the human-checked pairs, validated. Returns the SFT set
    as the toy model's training rows (question, answer)."""
    from datamill.finetune import validate, write_examples
    from datamill.io import write_jsonl

    by_task: dict[str, list[str]] = {}
    for j in judgements:
        by_task.setdefault(j.task, []).append(j.id)
    prefs, sft, asked_in = [], [], {}
    for p, pair in checked:
        parents = by_task.get(p.provenance.parents[0], []) or [p.id]
        prompt = (
            list(pair.prompt)
            if isinstance(pair.prompt, list)
            else [Message(role="user", content=pair.prompt)]
        )
        chosen, rejected = (Message(role="assistant", content=_text(x)) for x in (p.chosen, p.rejected))
        prefs.append(
            Preference(
                prompt=prompt,
                chosen=[chosen],
                rejected=[rejected],
                scores=p.scores,
                provenance=Provenance(step="finetune.export", parents=parents),
            )
        )
        sft.append(
            Example(
                messages=[*prompt, chosen], provenance=Provenance(step="finetune.export", parents=parents)
            )
        )
        asked_in[sft[-1].id] = str(pair.metadata["question"])
    ft = root / "5-finetune"
    write_examples(prefs, ft / "dpo.jsonl", format="openai_dpo", keep_ids=True)
    write_examples(sft, ft / "sft.jsonl", format="openai", keep_ids=True)
    write_jsonl([*prefs, *sft], ft / "records.jsonl")
    report = validate(ft / "sft.jsonl")
    res.finetune_ids = [r.id for r in [*prefs, *sft]]
    res.stage(
        "finetune",
        len(checked),
        len(prefs) + len(sft),
        f"{len(prefs)} DPO + {len(sft)} SFT; validate: {report.errors} errors, {report.warnings} warnings"
        + (f" ({', '.join(c.name for c in report.failed())})" if report.failed() else ""),
        str(ft),
    )
    return [{"id": e.id, "input": asked_in[e.id], "output": _text(e.messages or [])} for e in sft]


def _diagnose(
    root: Path,
    res: JourneyResult,
    index: Any,
    syn: _Synthetic,
    train: list[dict[str, Any]],
    held_pages: set[str],
) -> None:
    """6. diagnosis: a toy model that only memorises (it answers with the answer of the training question
    closest in meaning) on held-out questions: other phrasings of the trained ones, and the questions about
    the held-out pages."""
    from datamill.diagnose import diagnose, write_report
    from datamill.embed import get_embedder
    from datamill.io import write_jsonl

    fact = syn.fact
    held_out = [(p, fact[p.metadata["qa"]]) for ps in syn.phrasings.values() for p in ps[PHRASINGS + 1 :]]
    held_out += [(q, q) for q in syn.qa if q.metadata.get("chunk_id") in held_pages]
    texts = [ask.input or "?" for ask, _ in held_out]
    embedder = get_embedder()
    if train and texts:
        nearest = (
            (embedder.encode(texts) @ embedder.encode([t["input"] for t in train]).T).argmax(axis=1).tolist()
        )
    else:
        nearest = []
    contexts = index.search_batch(texts, k=3) if texts else []
    results = []
    for n, ((ask, q), text) in enumerate(zip(held_out, texts, strict=True)):
        answer = train[nearest[n]]["output"] if train else ""
        results.append(
            {
                "id": ask.id,
                "input": text,
                "expected": q.output,
                "output": answer,
                "correct": _f1(answer, q.output or "") >= 0.5,
                "contexts": [h.chunk.text for h in contexts[n]],
            }
        )
    write_jsonl(results, root / "6-diagnose" / "results.jsonl")
    diag = diagnose(results, train, embedder=embedder)
    html, _ = write_report(diag, root / "6-diagnose" / "report.html")
    summary = diag.summary()
    res.causes = {
        c: n for c, n in summary.items() if n and c not in ("mistakes", "combination", "unexplained")
    }
    found = ", ".join(f"{c.replace('_', ' ')} {n}" for c, n in res.causes.items()) or "no cause found"
    res.stage("diagnose", len(results), summary["mistakes"], f"mistakes by cause: {found}", html)

"""Grounded question/answer pairs from document chunks (:class:`QAFromDocs`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import ConfigError
from datamill.records import Document, Example, Record
from datamill.synthetic.engine import InvalidOutput, Job, Result, parse_json
from datamill.synthetic.rouge import rouge_tokens
from datamill.synthetic.tasks.base import (
    PerRecordTeacherStep,
    TeacherSpec,
    chat_example,
    prompt_messages,
    text_of,
)

__all__ = ["QAFromDocs", "grounding", "qa_from_docs"]

QA_TEMPLATE = (
    "Read the passage and write {n} question-answer pair(s) that the passage alone answers. Each answer must be "
    'supported by the passage. {focus}Reply with JSON only: {{"pairs": [{{"question": "...", "answer": '
    '"..."}}]}}\n\n<passage>\n{text}\n</passage>'
)
#: with n_per_chunk > 1, each of the n requests for a chunk asks about its own part of the passage
QA_FOCUS = (
    "This is pair {i} of {n} for this passage, each written in a separate request: draw it from part {i} "
    "of the passage cut into {n} parts of about equal length, so that the {n} questions differ. "
)


def _question_key(question: str) -> str:
    """A question as compared for duplicates: case, spacing and closing punctuation ignored."""
    return " ".join(question.lower().split()).rstrip(" ?.!")


def _qa_parse(text: str) -> list[dict[str, str]]:
    data = parse_json(text, required=["pairs"])
    pairs = data["pairs"]
    if not isinstance(pairs, list) or not pairs:
        raise InvalidOutput("schema", "'pairs' must be a non-empty list")
    for p in pairs:
        if not (
            isinstance(p, dict)
            and isinstance(p.get("question"), str)
            and isinstance(p.get("answer"), str)
            and p["question"].strip()
            and p["answer"].strip()
        ):
            raise InvalidOutput("schema", "each pair needs non-empty string 'question' and 'answer'")
    return pairs


def grounding(answer: str, passage: str) -> float:
    """Share of the answer's tokens that occur in the passage (1.0 = every word is in the source)."""
    toks = rouge_tokens(answer)
    if not toks:
        return 0.0
    src = set(rouge_tokens(passage))
    return sum(t in src for t in toks) / len(toks)


class QAFromDocs(PerRecordTeacherStep):
    """Grounded question/answer pairs from document chunks (any Document records, e.g. datamill.incontext chunks).

    Each of the ``n_per_chunk`` pairs of a chunk is its own request (pair ``i`` of ``n`` asks about part
    ``i`` of the passage and is sent with seed ``seed + i``; ``metadata["sample"]`` is ``i``), so the
    questions differ and a rerun finds each in the cache. The answer must be JSON ``{"pairs": [{"question",
    "answer"}]}`` (JSON mode is requested); invalid JSON is re-asked, then quarantined. Pairs whose answer
    shares fewer than ``min_grounding`` of its words with the chunk are dropped as ``ungrounded``; a question
    already generated for the same chunk (case, spacing and closing punctuation ignored) is dropped as
    ``duplicate_question``, and an example identical to one already emitted by this run (same question and
    answer from another chunk) as ``duplicate_example``. Each Example keeps the chunk id in
    ``provenance.parents``.
    """

    name = "synthetic.qa_from_docs"
    template = QA_TEMPLATE

    def __init__(
        self,
        *,
        teacher: TeacherSpec,
        n_per_chunk: int = 1,
        min_grounding: float = 0.5,
        json_mode: bool = True,
        min_chunk_words: int = 5,
        **kw: Any,
    ) -> None:
        super().__init__(teacher=teacher, **kw)
        if n_per_chunk < 1:
            raise ConfigError(f"n_per_chunk must be >= 1, got {n_per_chunk!r}", params="n_per_chunk")
        self.n_per_chunk, self.min_grounding, self.json_mode = n_per_chunk, min_grounding, json_mode
        self.min_chunk_words = min_chunk_words

    def jobs(self, rec: Record) -> list[Job]:
        text = rec.text if isinstance(rec, Document) else text_of(prompt_messages(rec)[-1]["content"])
        if len(text.split()) < self.min_chunk_words:
            return []
        extra = {"response_format": {"type": "json_object"}} if self.json_mode else {}
        n = self.n_per_chunk
        return [
            Job(
                messages=[
                    {
                        "role": "user",
                        "content": QA_TEMPLATE.format(
                            n=1, focus=QA_FOCUS.format(i=i + 1, n=n) if n > 1 else "", text=text
                        ),
                    }
                ],
                params=self.params_for(i, **extra),
                parse=_qa_parse,
                tag=(text, i),
            )
            for i in range(n)
        ]

    def generate(self, records: Iterable[Record]) -> Iterator[Record]:
        self._emitted: set[str] = set()
        yield from super().generate(records)

    def outputs(self, rec: Record, results: list[Result]) -> Iterator[Record | str]:
        if not results and not self.jobs(rec):
            yield "chunk_too_short"
        asked: set[str] = set()
        for res in results:
            text, sample = res.job.tag
            pair = res.value[0]  # one pair was asked for; a longer list is the model's extra
            g = grounding(pair["answer"], text)
            if g < self.min_grounding:
                yield "ungrounded"
                continue
            key = _question_key(pair["question"])
            if key in asked:
                yield "duplicate_question"
                continue
            asked.add(key)
            meta = {"chunk_id": rec.id, "grounding": round(g, 3), "context": text, "sample": sample}
            for k in ("doc_id", "source", "heading_path", "start", "end"):
                if k in rec.metadata:
                    meta[k] = rec.metadata[k]
            ex = chat_example(
                [{"role": "user", "content": pair["question"].strip()}],
                pair["answer"].strip(),
                metadata=meta,
                provenance=self.provenance([rec], res, sample=sample),
            )
            if ex.id in self._emitted:
                yield "duplicate_example"
                continue
            self._emitted.add(ex.id)
            yield ex


def qa_from_docs(
    chunks: Iterable[Document], teacher: TeacherSpec, *, n_per_chunk: int = 1, **kw: Any
) -> list[Example]:
    """Grounded question/answer Examples from document chunks; each keeps its chunk id as parent."""
    return list(QAFromDocs(teacher=teacher, n_per_chunk=n_per_chunk, **kw)(list(chunks)))  # type: ignore[arg-type]

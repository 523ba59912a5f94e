"""``datamill pretrain annotate``: a teacher scores a sample of documents with a rubric.

The documents are sampled (the ``sample`` with the smallest hash of ``(seed, id)``: the same sample
whatever the input order or sharding), each is sent with the rubric prompt through
:mod:`datamill.synthetic` (request cache, so a killed run resumes; retries; re-asks of answers without a
score; cost accounting), and the score parsed leniently. Each labelled row is an ``example`` record:
``input`` the text the teacher saw, ``label`` its score, ``metadata`` the rubric, teacher and its
justification, ``provenance`` the document it came from (parent id, source file and offset), the
teacher model and the prompt's hash. ``train_classifier`` reads these rows as they are.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import xxhash

from datamill.errors import ConfigError, InputError
from datamill.pipeline.stats import StepStats
from datamill.pipeline.steps import record_text
from datamill.pretrain.rubrics import Rubric, load_rubric, parse_score
from datamill.records import Example, Record, stable_id
from datamill.synthetic.engine import Job, Result, Usage
from datamill.synthetic.tasks.base import PerRecordTeacherStep, TeacherSpec

__all__ = ["Annotate", "AnnotateResult", "annotate", "sample_records"]


class Annotate(PerRecordTeacherStep):
    """Score each document with a rubric prompt; yields labelled ``example`` records.

    Args:
        teacher: the teacher (see :class:`~datamill.synthetic.tasks.TeacherStep`).
        rubric: ``"fineweb-edu"``, ``"toxicity"`` or a rubric file (see :func:`load_rubric`).
        max_chars: the document is cut to this many characters before it is sent.
        field: the text field of the records.
    """

    name = "pretrain.annotate"

    def __init__(
        self,
        *,
        teacher: TeacherSpec,
        rubric: str = "fineweb-edu",
        max_chars: int = 10_000,
        field: str = "text",
        **kw: Any,
    ) -> None:
        kw.setdefault("temperature", 0.0)
        kw.setdefault("max_tokens", 512)
        super().__init__(teacher=teacher, **kw)
        if max_chars < 1:
            raise ConfigError(f"max_chars must be >= 1, got {max_chars!r}", params="max_chars")
        self.rubric: Rubric = load_rubric(rubric)
        self.template = self.rubric.prompt
        self.max_chars, self.field = max_chars, field

    def _text(self, rec: Record) -> str:
        return record_text(rec, self.field)[: self.max_chars]

    def jobs(self, rec: Record) -> list[Job]:
        rubric = self.rubric
        return [
            Job(
                messages=[{"role": "user", "content": rubric.render(self._text(rec))}],
                params=self.params_for(0),
                parse=lambda text: parse_score(text, rubric),
            )
        ]

    def outputs(self, rec: Record, results: list[Result]) -> Iterator[Record | str]:
        for res in results:
            meta = {
                "rubric": self.rubric.name,
                "score_range": [self.rubric.min_score, self.rubric.max_score],
                "teacher": self.teacher.model,
                "explanation": (res.completion.text if res.completion else "")[:2000],
                "document_id": rec.id,
            }
            if rec.metadata.get("url"):
                meta["url"] = rec.metadata["url"]
            yield Example(
                id=stable_id("annotate", rec.id, self.rubric.name, self.teacher.model),
                input=self._text(rec),
                label=res.value,
                metadata=meta,
                provenance=self.provenance([rec], res, rubric=self.rubric.name),
            )


def sample_records(records: Any, sample: int | None, *, seed: int = 0) -> list[Record]:
    """The ``sample`` records with the smallest hash of ``(seed, id)`` (all when ``sample`` is None), in
    input order: the same documents whatever the order or sharding of the input."""
    if sample is None:
        return list(records)
    if sample < 1:
        raise ConfigError(f"sample must be >= 1, got {sample!r}", params="sample")
    heap: list[tuple[int, int, Record]] = []  # max-heap by hash (negated): the sample smallest so far
    for i, rec in enumerate(records):
        h = xxhash.xxh64_intdigest(f"{seed}\x1f{rec.id}".encode())
        if len(heap) < sample:
            heapq.heappush(heap, (-h, i, rec))
        elif -heap[0][0] > h:
            heapq.heapreplace(heap, (-h, i, rec))
    return [rec for _, _, rec in sorted(heap, key=lambda t: t[1])]


@dataclass
class AnnotateResult:
    """What ``annotate`` did: documents read and sampled, rows labelled, the labels, the teacher's usage."""

    output: str
    documents: int
    sampled: int
    labelled: int
    labels: dict[str, int]
    stats: StepStats
    usage: Usage
    rejects: str | None = None
    feedback: dict[str, Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "documents": self.documents,
            "sampled": self.sampled,
            "labelled": self.labelled,
            "labels": self.labels,
            "step": self.stats.to_dict(),
            "usage": self.usage.to_dict(),
            "rejects": self.rejects,
            "feedback": self.feedback,
        }


def annotate(
    inputs: str | os.PathLike[str] | list[str],
    output: str | os.PathLike[str],
    *,
    teacher: TeacherSpec,
    rubric: str = "fineweb-edu",
    sample: int | None = 1000,
    seed: int = 0,
    text_field: str = "text",
    max_chars: int = 10_000,
    cache: str | None = "default",
    max_tokens: int = 512,
    max_failures: float = 0.5,
    rejects: str | None = None,
    progress: bool = False,
    feedback_db: str | None = None,
    feedback_project: str | None = None,
    feedback_share: float = 0.0,
) -> AnnotateResult:
    """Label a sample of documents with a teacher and a rubric; write the labelled rows to ``output``.

    Args:
        inputs: documents (JSONL/Parquet files, folders or globs; e.g. a pretrain run's ``data/``).
        output: the labelled rows (``.jsonl``, ``.jsonl.gz`` or ``.parquet``).
        teacher: an OpenAI-compatible URL, a spec dict, a Teacher, or a local model folder.
        rubric: ``"fineweb-edu"`` (0-5 educational value), ``"toxicity"`` (0-3) or a rubric file.
        sample: how many documents to label (None: all); seed: which ones.
        max_chars: documents are cut to this many characters before they are sent.
        cache, max_tokens, max_failures, rejects, progress: as for every teacher step.
        feedback_db, feedback_project, feedback_share: import this share of the labelled rows into a
            rubric project of the feedback app for people to score (the teacher's score is not shown);
            ``teacher_agreement`` then compares their judgements with the teacher's.
    """
    from datamill.io import write_records

    out = os.fspath(output)
    _check_feedback(feedback_share, feedback_project)
    step = Annotate(
        teacher=teacher,
        rubric=rubric,
        max_chars=max_chars,
        field="text",
        cache=cache,
        max_tokens=max_tokens,
        max_failures=max_failures,
        progress=progress,
        rejects=rejects,
        seed=seed,
    )
    if rejects is not None and os.path.exists(rejects):
        os.remove(rejects)
    docs, seen = _sample(inputs, text_field=text_field, sample=sample, seed=seed)
    rows = list(step(docs))
    write_records(rows, out)
    review = None
    if feedback_share:
        from datamill.pretrain.review import send_for_review

        review = send_for_review(
            rows, step.rubric, db=feedback_db, project=str(feedback_project), share=feedback_share, seed=seed
        )
    return AnnotateResult(
        output=out,
        documents=seen,
        sampled=len(docs),
        labelled=len(rows),
        labels=dict(sorted(Counter(str(r.label) for r in rows).items())),  # type: ignore[attr-defined]
        stats=step.stats,
        usage=step.usage,
        rejects=rejects if rejects and os.path.exists(rejects) else None,
        feedback=review,
    )


def _check_feedback(feedback_share: float, feedback_project: str | None) -> None:
    if not 0 <= feedback_share <= 1:
        raise ConfigError(
            f"feedback_share must be between 0 and 1, got {feedback_share!r}", params="feedback_share"
        )
    if feedback_share and not feedback_project:
        raise ConfigError(
            "feedback_share needs feedback_project (and feedback_db)", params="feedback_project"
        )


def _sample(
    inputs: str | os.PathLike[str] | list[str], *, text_field: str, sample: int | None, seed: int
) -> tuple[list[Record], int]:
    """The sampled documents (seeded, streaming) and how many the inputs hold."""
    from datamill.io import read_records

    seen = 0

    def counted() -> Iterator[Record]:
        nonlocal seen
        for rec in read_records(inputs, text_field=text_field):
            seen += 1
            yield rec

    docs = sample_records(counted(), sample, seed=seed)
    if not docs:
        raise InputError("no documents to annotate", path=str(inputs))
    return docs, seen

"""RAG answers judged by any teacher: faithfulness, answer relevance, context precision and recall.

The definitions follow ragas:

* **faithfulness** = statements of the answer the retrieved context supports / statements of the answer
  (the teacher splits the answer into statements, then gives each a verdict against the context);
* **answer relevance** = mean cosine similarity (shipped MiniLM) between the question and ``n_questions``
  questions the teacher writes for the answer; 0 when the teacher calls the answer noncommittal;
* **context precision** = mean precision@k over the ranks k of the passages the teacher finds useful for
  the reference answer (``ground_truth``, else the answer), i.e. useful passages ranked first score high;
* **context recall** = sentences of the ``ground_truth`` the context supports / its sentences (needs one).

Every request goes through datamill.synthetic's runner: cached (a rerun resumes and costs nothing),
re-asked when unusable, counted in tokens and cost. Answers scoring under ``unfaithful_below`` are handed
to :mod:`datamill.diagnose`: ``contradictory_context`` when their passages contradict each other
(:func:`~datamill.diagnose.scan_contradictions`), else ``never_seen`` (the answer states what the context
never gave it); ``handoff=`` writes them as diagnose results rows (with their contexts).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from datamill.errors import ConfigError, InputError, InvalidOutput

__all__ = [
    "AnswerScores",
    "JudgeReport",
    "METRICS",
    "judge_answers",
    "read_rag_rows",
]

METRICS = ("faithfulness", "answer_relevance", "context_precision", "context_recall")

_STATEMENTS = (
    "[RAG-JUDGE:statements] Break the answer below into short standalone statements, one fact each, "
    'without pronouns. Reply with JSON only: {{"statements": ["..."]}}.\n\n<question>{q}</question>\n'
    "<answer>{a}</answer>"
)
_FAITHFUL = (
    "[RAG-JUDGE:faithfulness] For each statement, judge whether it can be inferred from the context alone "
    '(1) or not (0). Reply with JSON only: {{"verdicts": [{{"statement": "...", "verdict": 1, "reason": '
    '"..."}}]}}, one verdict per statement, in order.\n\n<context>{c}</context>\n<statements>\n{s}\n</statements>'
)
_QUESTIONS = (
    "[RAG-JUDGE:questions] Write {n} questions the answer below answers. Say whether the answer is "
    'noncommittal (evasive, vague or "I don\'t know"): 1 or 0. Reply with JSON only: {{"questions": ["..."], '
    '"noncommittal": 0}}.\n\n<answer>{a}</answer>'
)
_USEFUL = (
    "[RAG-JUDGE:context_precision] Given the question and its reference answer, was the context passage "
    'useful in arriving at the answer? Reply with JSON only: {{"verdict": 1, "reason": "..."}} (1 useful, '
    "0 not).\n\n<question>{q}</question>\n<reference>{r}</reference>\n<context>{c}</context>"
)
_RECALL = (
    "[RAG-JUDGE:context_recall] For each sentence of the reference answer, say whether the context supports "
    '(1) or not (0). Reply with JSON only: {{"classifications": [{{"statement": "...", "attributed": 1}}]}}.'
    "\n\n<question>{q}</question>\n<context>{c}</context>\n<reference>{r}</reference>"
)


@dataclass
class AnswerScores:
    """The judgement of one answer: the metrics (None when not computed) and what they rest on."""

    id: str
    question: str
    answer: str
    contexts: list[str]
    ground_truth: str | None = None
    faithfulness: float | None = None
    answer_relevance: float | None = None
    context_precision: float | None = None
    context_recall: float | None = None
    statements: list[dict[str, Any]] = field(default_factory=list)  # {statement, supported}
    questions: list[str] = field(default_factory=list)
    useful: list[int] = field(default_factory=list)  # per passage, in rank order
    cause: str | None = None  # for an unfaithful answer: contradictory_context or never_seen
    contradictions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # metrics the teacher gave no usable answer for


@dataclass
class JudgeReport:
    """Scores of every answer, the teacher's usage and the threshold of faithfulness."""

    scores: list[AnswerScores]
    metrics: list[str]
    unfaithful_below: float
    usage: dict[str, Any]

    def unfaithful(self) -> list[AnswerScores]:
        return [
            s for s in self.scores if s.faithfulness is not None and s.faithfulness < self.unfaithful_below
        ]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"answers": len(self.scores)}
        for m in self.metrics:
            vals = [getattr(s, m) for s in self.scores if getattr(s, m) is not None]
            out[m] = round(float(np.mean(vals)), 4) if vals else None
            out[f"{m}_scored"] = len(vals)
        bad = self.unfaithful()
        out["unfaithful"] = len(bad)
        out["contradictory_context"] = sum(s.cause == "contradictory_context" for s in bad)
        out["never_seen"] = sum(s.cause == "never_seen" for s in bad)
        out["errors"] = sum(bool(s.errors) for s in self.scores)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "usage": self.usage, "scores": [asdict(s) for s in self.scores]}


def read_rag_rows(source: Any) -> list[dict[str, Any]]:
    """Rows ``{id?, question|input, answer|output, contexts|context|passages, ground_truth|reference?}``."""
    from datamill.io import iter_jsonl

    if isinstance(source, str | os.PathLike):
        items: Iterable[tuple[Any, Any]] = ((n, row) for n, _, row in iter_jsonl(os.fspath(source)))
        where = os.fspath(source)
    else:
        items, where = enumerate(source, start=1), None
    rows = []
    for n, row in items:
        if not isinstance(row, dict):
            raise InputError("a RAG row must be an object", path=where, line=n)
        q = _pick(row, ("question", "input", "query", "user_input"))
        a = _pick(row, ("answer", "output", "response"))
        ctx = _pick(row, ("contexts", "context", "passages", "retrieved_contexts"))
        if not isinstance(q, str) or not isinstance(a, str) or ctx is None:
            raise InputError("a RAG row needs 'question', 'answer' and 'contexts'", path=where, line=n)
        passages = (
            [ctx]
            if isinstance(ctx, str)
            else [p.get("text", "") if isinstance(p, dict) else str(p) for p in ctx]
        )
        truth = _pick(row, ("ground_truth", "reference", "expected", "ground_truths"))
        if isinstance(truth, list):
            truth = " ".join(map(str, truth))
        rows.append(
            {
                "id": str(row.get("id", n)),
                "question": q,
                "answer": a,
                "contexts": passages,
                "ground_truth": truth,
            }
        )
    return rows


def _pick(row: dict[str, Any], keys: Sequence[str]) -> Any:
    return next((row[k] for k in keys if row.get(k) is not None), None)


def _json_list(key: str, item: str | None = None) -> Any:
    from datamill.synthetic.engine import parse_json

    def parse(text: str) -> Any:
        data = parse_json(text, required=[key])
        value = data[key]
        if not isinstance(value, list) or (
            item is not None and not all(isinstance(v, dict) and item in v for v in value)
        ):
            raise InvalidOutput(
                "schema", f"{key!r} must be a list" + (f" of objects with {item!r}" if item else "")
            )
        return data

    return parse


def _verdict(text: str) -> int:
    from datamill.synthetic.engine import parse_json

    data = parse_json(text, required=["verdict"])
    if data["verdict"] not in (0, 1, True, False):
        raise InvalidOutput("schema", "verdict must be 0 or 1")
    return int(data["verdict"])


def judge_answers(
    rows: Any,
    teacher: Any,
    *,
    model: str | None = None,
    metrics: Sequence[str] = METRICS,
    n_questions: int = 3,
    unfaithful_below: float = 0.5,
    detector: str = "combined",
    embedder: Any = "all-MiniLM-L6-v2",
    cache: str | None = "default",
    prices: dict[str, Sequence[float]] | None = None,
    max_failures: float = 0.5,
    progress: bool = False,
    output: str | os.PathLike[str] | None = None,
    handoff: str | os.PathLike[str] | None = None,
) -> JudgeReport:
    """Judge generated answers against their retrieved contexts (see the module doc for the metrics).

    Args:
        rows: a JSONL path or rows ``{id?, question, answer, contexts, ground_truth?}`` (see
            :func:`read_rag_rows` for the other names read).
        teacher: the judge: a :class:`~datamill.synthetic.Teacher`, a spec dict, a base URL or a local model.
        model: the model name for a URL teacher.
        metrics: which of :data:`METRICS` to compute (context recall only for rows with a ground truth).
        n_questions: questions generated per answer for answer relevance.
        unfaithful_below: faithfulness under which an answer is unfaithful and handed to diagnose.
        detector: the contradiction detector run on the contexts of unfaithful answers.
        embedder: the sentence embedder of answer relevance and of the learned contradiction detector.
        cache, prices, max_failures, progress: as for datamill.synthetic's teacher steps.
        output: write every answer's scores as JSONL.
        handoff: write the unfaithful answers as ``datamill diagnose`` results rows (with contexts and cause).
    """
    from datamill.synthetic.cache import default_cache_path
    from datamill.synthetic.engine import Runner
    from datamill.synthetic.teachers import make_teacher

    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise ConfigError(
            f"metrics must be among {', '.join(METRICS)}, got {list(metrics)!r}", params="metrics"
        )
    if n_questions < 1:
        raise ConfigError(f"n_questions must be >= 1, got {n_questions!r}", params="n_questions")
    scores = [AnswerScores(**r) for r in read_rag_rows(rows)]
    runner = Runner(
        make_teacher(teacher, model=model),
        cache=default_cache_path() if cache == "default" else cache,
        prices=prices,
        progress=progress,
        max_failures=max_failures,
    )
    try:
        _first_stage(runner, scores, list(metrics), n_questions)
        if "faithfulness" in metrics:
            _faithfulness(runner, scores)
        runner.check_failures()
    finally:
        runner.close()
    if "answer_relevance" in metrics:
        _relevance(scores, embedder)
    report = JudgeReport(scores, list(metrics), unfaithful_below, runner.usage.to_dict())
    _causes(report, detector=detector, embedder=embedder)
    if output is not None:
        _write_jsonl(output, [asdict(s) for s in scores])
    if handoff is not None:
        _write_jsonl(handoff, [_diagnose_row(s) for s in report.unfaithful()])
    return report


def _job(prompt: str, parse: Any, tag: Any) -> Any:
    from datamill.synthetic.engine import Job

    params = {"temperature": 0.0, "max_tokens": 1024, "response_format": {"type": "json_object"}}
    return Job(messages=[{"role": "user", "content": prompt}], params=params, parse=parse, tag=tag)


def _first_stage(runner: Any, scores: list[AnswerScores], metrics: list[str], n_questions: int) -> None:
    """Statements of each answer, questions for it, usefulness of each passage, attribution of the truth."""
    jobs = []
    for i, s in enumerate(scores):
        if "faithfulness" in metrics:
            jobs.append(
                _job(_STATEMENTS.format(q=s.question, a=s.answer), _json_list("statements"), (i, "st", 0))
            )
        if "answer_relevance" in metrics:
            prompt = _QUESTIONS.format(n=n_questions, a=s.answer)
            jobs.append(_job(prompt, _json_list("questions"), (i, "q", 0)))
        if "context_precision" in metrics:
            ref = s.ground_truth or s.answer
            for k, c in enumerate(s.contexts):
                jobs.append(_job(_USEFUL.format(q=s.question, r=ref, c=c), _verdict, (i, "use", k)))
        if "context_recall" in metrics and s.ground_truth:
            prompt = _RECALL.format(q=s.question, c="\n\n".join(s.contexts), r=s.ground_truth)
            jobs.append(_job(prompt, _json_list("classifications", "attributed"), (i, "rec", 0)))
    useful: dict[int, dict[int, int]] = {}
    for res in runner.run(jobs):
        i, kind, k = res.job.tag
        s = scores[i]
        if not res.ok:
            s.errors.append(
                {"st": "faithfulness", "q": "answer_relevance", "use": "context_precision"}.get(
                    kind, "context_recall"
                )
            )
            continue
        if kind == "st":
            s.statements = [
                {"statement": str(t), "supported": None} for t in res.value["statements"] if str(t).strip()
            ]
        elif kind == "q":
            s.questions = [str(q) for q in res.value["questions"]][:n_questions]
            if res.value.get("noncommittal") in (1, True):
                s.answer_relevance = 0.0
        elif kind == "use":
            useful.setdefault(i, {})[k] = res.value
        else:
            rows = res.value["classifications"]
            s.context_recall = (
                sum(int(r["attributed"] in (1, True)) for r in rows) / len(rows) if rows else None
            )
    for i, got in useful.items():
        s = scores[i]
        if len(got) == len(s.contexts):
            s.useful = [got[k] for k in range(len(s.contexts))]
            s.context_precision = _average_precision(s.useful)


def _average_precision(useful: list[int]) -> float:
    """ragas context precision: mean of precision@k over the ranks k holding a useful passage."""
    hits, total = 0, 0.0
    for k, v in enumerate(useful, start=1):
        if v:
            hits += 1
            total += hits / k
    return total / hits if hits else 0.0


def _faithfulness(runner: Any, scores: list[AnswerScores]) -> None:
    jobs = []
    for i, s in enumerate(scores):
        if s.statements:
            listed = "\n".join(f"{n + 1}. {t['statement']}" for n, t in enumerate(s.statements))
            prompt = _FAITHFUL.format(c="\n\n".join(s.contexts), s=listed)
            jobs.append(_job(prompt, _json_list("verdicts", "verdict"), (i, "v", 0)))
    for res in runner.run(jobs):
        s = scores[res.job.tag[0]]
        verdicts = res.value["verdicts"] if res.ok else []
        if not verdicts:
            s.errors.append("faithfulness")
            continue
        for t, v in zip(s.statements, verdicts, strict=False):
            t["supported"] = v["verdict"] in (1, True)
        judged = [t for t in s.statements if t["supported"] is not None]
        s.faithfulness = sum(t["supported"] for t in judged) / len(judged)


def _relevance(scores: list[AnswerScores], embedder: Any) -> None:
    todo = [s for s in scores if s.questions and s.answer_relevance is None]
    if not todo:
        return
    if isinstance(embedder, str):
        from datamill.embed import get_embedder

        embedder = get_embedder(embedder)
    texts = list(dict.fromkeys(t for s in todo for t in [s.question, *s.questions]))
    vecs = np.asarray(embedder.encode(texts), dtype=np.float32)
    vecs /= np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
    row = {t: i for i, t in enumerate(texts)}
    for s in todo:
        q = vecs[row[s.question]]
        s.answer_relevance = round(float(np.mean([vecs[row[g]] @ q for g in s.questions])), 4)


def _causes(report: JudgeReport, *, detector: str, embedder: Any) -> None:
    """Why each unfaithful answer went wrong, as datamill.diagnose names it."""
    bad = report.unfaithful()
    if not bad:
        return
    from datamill.diagnose import scan_contradictions

    found = scan_contradictions(
        {s.id: s.contexts for s in bad if len(s.contexts) > 0}, detector=detector, embedder=embedder
    ).found
    for s in bad:
        s.contradictions = [asdict(c) for c in found.get(s.id, [])]
        s.cause = "contradictory_context" if s.contradictions else "never_seen"


def _diagnose_row(s: AnswerScores) -> dict[str, Any]:
    """An unfaithful answer as a ``datamill diagnose`` results row (read by read_results)."""
    return {
        "id": s.id,
        "input": s.question,
        "expected": s.ground_truth,
        "output": s.answer,
        "correct": False,
        "score": s.faithfulness,
        "contexts": s.contexts,
        "metadata": {
            "cause": s.cause,
            "faithfulness": s.faithfulness,
            "unsupported": [t["statement"] for t in s.statements if t["supported"] is False],
            "contradictions": s.contradictions,
        },
    }


def _write_jsonl(path: str | os.PathLike[str], rows: list[dict[str, Any]]) -> None:
    import orjson

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as fh:
        for r in rows:
            fh.write(orjson.dumps(r, default=str) + b"\n")

"""Judging tasks: LLM-as-judge over answer pairs or single answers (:class:`Judge`) and written
critiques (:class:`Critique`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from datamill.errors import ConfigError
from datamill.records import Document, Example, Preference, Record
from datamill.synthetic.engine import InvalidOutput, Job, Result, parse_json
from datamill.synthetic.tasks.base import PerRecordTeacherStep, TeacherSpec, prompt_messages, text_of

__all__ = ["Critique", "Judge", "judge_pairs"]

PAIRWISE_TEMPLATE = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to "
    "the user question displayed below. {criteria} Avoid any position biases and ensure that the order in which the "
    "responses were presented does not influence your decision. Do not allow the length of the responses to "
    "influence your evaluation. Be as objective as possible. After providing your explanation, output your final "
    'verdict by strictly following this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is '
    'better, and "[[C]]" for a tie.\n\n[User Question]\n{question}\n\n[The Start of Assistant A\'s Answer]\n{a}\n'
    "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{b}\n[The End of Assistant B's Answer]"
)
RUBRIC_TEMPLATE = (
    "Please act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the "
    "user question displayed below. {criteria} Begin your evaluation by providing a short explanation. Be as "
    "objective as possible. After providing your explanation, you must rate the response on a scale of 1 to 10 by "
    'strictly following this format: "[[rating]]", for example: "Rating: [[5]]".\n\n[Question]\n{question}\n\n'
    "[The Start of Answer]\n{answer}\n[The End of Answer]"
)
_DEFAULT_CRITERIA = (
    "Consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of "
    "detail of the responses."
)
_VERDICT = re.compile(r"\[\[([ABC])\]\]")
_RATING = re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]")


def _verdict(text: str) -> str:
    found = _VERDICT.findall(text)
    if not found:
        raise InvalidOutput("no_verdict", "expected [[A]], [[B]] or [[C]]")
    return found[-1]


def _rating(text: str) -> float:
    found = _RATING.findall(text)
    if not found:
        raise InvalidOutput("no_rating", "expected [[rating]]")
    value = float(found[-1])
    if not 1 <= value <= 10:
        raise InvalidOutput("rating_out_of_range", f"{value}")
    return value


class Judge(PerRecordTeacherStep):
    """LLM-as-judge (MT-Bench prompts): ``pairwise`` makes Preference records, ``rubric`` scores Examples.

    Pairwise reads Preference records (``chosen``/``rejected`` are just the two candidates, in the given
    order) and asks twice with the answers swapped when ``swap`` is on; only a verdict that survives the
    swap is kept (else ``position_inconsistent``), ties are dropped as ``tie``. The output Preference puts
    the winner in ``chosen``. Rubric reads Examples (input + output) and adds ``metadata["judge_score"]``
    (1-10) and the explanation.
    """

    name = "synthetic.judge"

    def __init__(
        self,
        *,
        teacher: TeacherSpec,
        mode: str = "pairwise",
        swap: bool = True,
        criteria: str | None = None,
        **kw: Any,
    ) -> None:
        kw.setdefault("temperature", 0.0)
        super().__init__(teacher=teacher, **kw)
        if mode not in ("pairwise", "rubric"):
            raise ConfigError(f"judge mode must be 'pairwise' or 'rubric', got {mode!r}", params="mode")
        self.mode, self.swap, self.criteria = mode, swap, criteria or _DEFAULT_CRITERIA
        self.template = PAIRWISE_TEMPLATE if mode == "pairwise" else RUBRIC_TEMPLATE

    def _pair(self, rec: Record) -> Record:
        """A plain row ``{"prompt", "response_a", "response_b"}`` (read as a Document) as a Preference."""
        if isinstance(rec, Document) and {"response_a", "response_b"} <= set(rec.metadata):
            meta = {k: v for k, v in rec.metadata.items() if k not in ("response_a", "response_b")}
            return Preference(
                id=rec.id,
                prompt=rec.text,
                chosen=str(rec.metadata["response_a"]),
                rejected=str(rec.metadata["response_b"]),
                metadata=meta,
                provenance=rec.provenance,
            )
        return rec

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        return super().__call__(self._pair(r) for r in records)

    def jobs(self, rec: Record) -> list[Job]:
        if self.mode == "pairwise":
            if not isinstance(rec, Preference):
                raise ConfigError(
                    f"pairwise judging needs Preference records, got a {rec.type_name} ({rec.id})"
                )
            q, a, b = text_of(rec.prompt), text_of(rec.chosen), text_of(rec.rejected)
            orders = [("A", a, b), ("B", b, a)] if self.swap else [("A", a, b)]
            return [
                Job(
                    messages=[
                        {
                            "role": "user",
                            "content": PAIRWISE_TEMPLATE.format(criteria=self.criteria, question=q, a=x, b=y),
                        }
                    ],
                    params=self.params_for(0),
                    parse=_verdict,
                    tag=first,
                )
                for first, x, y in orders
            ]
        if not isinstance(rec, Example) or rec.output is None and not rec.messages:
            raise ConfigError(f"rubric judging needs Example records with an output, got {rec.id}")
        q = rec.input if rec.input is not None else text_of(prompt_messages(rec)[-1]["content"])
        ans = rec.output if rec.output is not None else str(rec.messages[-1].content if rec.messages else "")
        return [
            Job(
                messages=[
                    {
                        "role": "user",
                        "content": RUBRIC_TEMPLATE.format(criteria=self.criteria, question=q, answer=ans),
                    }
                ],
                params=self.params_for(0),
                parse=_rating,
            )
        ]

    def outputs(self, rec: Record, results: list[Result]) -> Iterator[Record | str]:
        if self.mode == "rubric":
            for res in results:
                assert isinstance(rec, Example)
                meta = {
                    **rec.metadata,
                    "judge_score": res.value,
                    "judge_model": self.teacher.model,
                    "judge_explanation": res.completion.text if res.completion else "",
                }
                yield replace(rec, metadata=meta)
            return
        assert isinstance(rec, Preference)
        if len(results) < (2 if self.swap else 1):
            return  # the failed half was already counted
        # map each verdict back to the original order: "A" = rec.chosen won
        verdicts = [
            v if r.job.tag == "A" else {"A": "B", "B": "A", "C": "C"}[v] for r in results for v in [r.value]
        ]
        if len(set(verdicts)) > 1:
            yield "position_inconsistent"
            return
        if verdicts[0] == "C":
            yield "tie"
            return
        win, lose = (rec.chosen, rec.rejected) if verdicts[0] == "A" else (rec.rejected, rec.chosen)
        yield Preference(
            prompt=rec.prompt,
            chosen=win,
            rejected=lose,
            scores={"judge_agreement": 1.0, "judge_votes": float(len(verdicts))},
            metadata={
                **rec.metadata,
                "judge_model": self.teacher.model,
                "judge_verdicts": verdicts,
                "swapped": self.swap,
            },
            provenance=self.provenance([rec], results[0]),
        )


CRITIQUE_TEMPLATE = (
    "Critique the response to the instruction below: point out errors, omissions and unclear parts. Reply with JSON "
    'only: {{"critique": "...", "score": <1-10>}}.\n\n<instruction>\n{question}\n</instruction>\n\n<response>\n'
    "{answer}\n</response>"
)


def _critique_parse(text: str) -> dict[str, Any]:
    data = parse_json(text, required=["critique", "score"])
    if not isinstance(data["critique"], str) or not isinstance(data["score"], int | float):
        raise InvalidOutput("schema", "critique must be a string and score a number")
    return data


class Critique(PerRecordTeacherStep):
    """Critique each Example's output: adds ``metadata["critique"]`` and ``metadata["critique_score"]``."""

    name = "synthetic.critique"
    template = CRITIQUE_TEMPLATE

    def __init__(self, *, teacher: TeacherSpec, json_mode: bool = True, **kw: Any) -> None:
        kw.setdefault("temperature", 0.0)
        super().__init__(teacher=teacher, **kw)
        self.json_mode = json_mode

    def jobs(self, rec: Record) -> list[Job]:
        if not isinstance(rec, Example) or rec.output is None:
            raise ConfigError(f"critique needs Example records with an output, got {rec.id}")
        q = rec.input if rec.input is not None else text_of(prompt_messages(rec)[-1]["content"])
        extra = {"response_format": {"type": "json_object"}} if self.json_mode else {}
        return [
            Job(
                messages=[
                    {"role": "user", "content": CRITIQUE_TEMPLATE.format(question=q, answer=rec.output)}
                ],
                params=self.params_for(0, **extra),
                parse=_critique_parse,
            )
        ]

    def outputs(self, rec: Record, results: list[Result]) -> Iterator[Record | str]:
        for res in results:
            assert isinstance(rec, Example)
            yield replace(
                rec,
                metadata={
                    **rec.metadata,
                    "critique": res.value["critique"],
                    "critique_score": res.value["score"],
                    "critique_model": self.teacher.model,
                },
            )


def judge_pairs(
    prompts: Sequence[str],
    responses_a: Sequence[str],
    responses_b: Sequence[str],
    teacher: TeacherSpec,
    *,
    swap: bool = True,
    **kw: Any,
) -> list[Preference]:
    """Pairwise LLM-as-judge with position swapping: one Preference (winner as ``chosen``) per consistent pair."""
    if not len(prompts) == len(responses_a) == len(responses_b):
        raise ConfigError("prompts, responses_a and responses_b must have the same length")
    pairs = [
        Preference(prompt=p, chosen=a, rejected=b)
        for p, a, b in zip(prompts, responses_a, responses_b, strict=True)
    ]
    return list(Judge(teacher=teacher, mode="pairwise", swap=swap, **kw)(pairs))  # type: ignore[arg-type]

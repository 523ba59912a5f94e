"""Evol-Instruct (Xu et al. 2023, WizardLM): instructions evolved in depth or in breadth."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import ConfigError
from datamill.records import Example, Record
from datamill.synthetic.engine import Job, Result
from datamill.synthetic.rouge import rouge_l, rouge_tokens
from datamill.synthetic.tasks.base import TeacherSpec, TeacherStep, as_records, batched, record_instruction

__all__ = ["EvolInstruct", "evol_eliminate", "evol_instruct"]

_DEPTH = {
    "constraints": "Please add one more constraints/requirements into #The Given Prompt#.",
    "deepen": "If #The Given Prompt# contains inquiries about certain issues, the depth and breadth of the inquiry "
    "can be increased.",
    "concretize": "Please replace general concepts with more specific concepts.",
    "reasoning": "If #The Given Prompt# can be solved with just a few simple thinking processes, you can rewrite it "
    "to explicitly request multiple-step reasoning.",
}
EVOL_DEPTH_TEMPLATE = (
    "I want you act as a Prompt Rewriter.\nYour objective is to rewrite a given prompt into a more complex version "
    "to make those famous AI systems (e.g., chatgpt and GPT4) a bit harder to handle.\nBut the rewritten prompt must "
    "be reasonable and must be understood and responded by humans.\nYou SHOULD complicate the given prompt using the "
    "following method:\n{method}\nYou should try your best not to make the #Rewritten Prompt# become verbose, "
    "#Rewritten Prompt# can only add 10 to 20 words into #The Given Prompt#.\n'#The Given Prompt#', '#Rewritten "
    "Prompt#', 'given prompt' and 'rewritten prompt' are not allowed to appear in #Rewritten Prompt#\n"
    "#The Given Prompt#:\n{prompt}\n#Rewritten Prompt#:\n"
)
EVOL_BREADTH_TEMPLATE = (
    "I want you act as a Prompt Creator.\nYour goal is to draw inspiration from the #The Given Prompt# to create a "
    "brand new prompt.\nThis new prompt should belong to the same domain as the #The Given Prompt# but be even more "
    "rare.\nThe LENGTH and complexity of the #Created Prompt# should be similar to that of the #The Given Prompt#.\n"
    "The #Created Prompt# must be reasonable and must be understood and responded by humans.\n'#The Given Prompt#', "
    "'#Created Prompt#', 'given prompt' and 'created prompt' are not allowed to appear in #Created Prompt#.\n"
    "#The Given Prompt#:\n{prompt}\n#Created Prompt#:\n"
)
_LEAK = re.compile(
    r"#?\s*(the given prompt|given prompt|rewritten prompt|created prompt)\s*#?", re.IGNORECASE
)
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "is",
        "are",
        "was",
        "it",
        "this",
        "that",
        "i",
        "you",
        "we",
        "be",
        "for",
        "with",
        "as",
        "at",
        "by",
    ]
)


def evol_eliminate(original: str, evolved: str, response: str | None = None) -> str | None:
    """WizardLM's elimination rules; returns why an evolution fails, or None.

    1. no information gain (the evolved prompt is, up to ROUGE-L >= 0.9, the original);
    2. the response is a short apology ("sorry" in under 80 words): the prompt is too hard;
    3. the response is only punctuation and stop words;
    4. the evolved prompt copies words of the evolving prompt ("given prompt", "#Rewritten Prompt#"...).
    """
    if not evolved.strip():
        return "empty_evolution"
    if _LEAK.search(evolved):
        return "prompt_leak"
    if evolved.strip() == original.strip() or rouge_l(evolved, original) >= 0.9:
        return "no_information_gain"
    if response is not None:
        if "sorry" in response.lower() and len(response.split()) < 80:
            return "response_refusal"
        if all(t in _STOPWORDS for t in rouge_tokens(response)):
            return "response_empty"
    return None


class EvolInstruct(TeacherStep):
    """Evol-Instruct (Xu et al. 2023): evolve each instruction ``rounds`` times in depth or in breadth.

    Each round picks one of ``methods`` (in-depth: constraints, deepen, concretize, reasoning;
    in-breadth: breadth) with a seeded RNG, asks the teacher to rewrite, optionally answers the
    evolved instruction (``respond=True``), and applies :func:`evol_eliminate`. Every surviving round
    emits an Example (input = evolved instruction, output = the answer) whose parent is the previous one.
    """

    name = "synthetic.evol_instruct"
    template = EVOL_DEPTH_TEMPLATE + EVOL_BREADTH_TEMPLATE

    def __init__(
        self,
        *,
        teacher: TeacherSpec,
        rounds: int = 1,
        methods: list[str] | None = None,
        respond: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(teacher=teacher, **kw)
        allowed = [*_DEPTH, "breadth"]
        self.methods = list(methods or allowed)
        bad = [m for m in self.methods if m not in allowed]
        if bad or not self.methods:
            raise ConfigError(f"unknown evol methods {bad}; allowed: {', '.join(allowed)}")
        if rounds < 1:
            raise ConfigError(f"rounds must be >= 1, got {rounds!r}")
        self.rounds, self.respond = rounds, respond

    def _evolve_prompt(self, text: str, method: str) -> str:
        if method == "breadth":
            return EVOL_BREADTH_TEMPLATE.format(prompt=text)
        return EVOL_DEPTH_TEMPLATE.format(method=_DEPTH[method], prompt=text)

    def generate(self, records: Iterable[Record]) -> Iterator[Record]:
        st = self.stats
        for batch in batched(records, self.batch_size):
            st.seen += len(batch)
            alive: list[tuple[Record, str]] = [(r, record_instruction(r)) for r in batch]
            for rnd in range(self.rounds):
                if not alive:
                    break
                methods = [
                    random.Random(f"{self.seed}:{rec.id}:{rnd}").choice(self.methods) for rec, _ in alive
                ]
                jobs = [
                    Job(
                        messages=[{"role": "user", "content": self._evolve_prompt(text, m)}],
                        params=self.params_for(rnd),
                    )
                    for (_, text), m in zip(alive, methods, strict=True)
                ]
                evolved = self.run_jobs(jobs)
                answers: list[Result | None] = [None] * len(alive)
                if self.respond:
                    idx = [i for i, r in enumerate(evolved) if r.ok]
                    got = self.run_jobs(
                        [
                            Job(
                                messages=[{"role": "user", "content": str(evolved[i].value).strip()}],
                                params=self.params_for(rnd),
                            )
                            for i in idx
                        ]
                    )
                    for i, r in zip(idx, got, strict=True):
                        answers[i] = r
                nxt: list[tuple[Record, str]] = []
                for (rec, text), m, ev, ans in zip(alive, methods, evolved, answers, strict=True):
                    if not ev.ok:
                        self.reject(rec, ev)
                        continue
                    new = str(ev.value).strip()
                    if ans is not None and not ans.ok:
                        self.reject(rec, ans)
                        continue
                    reason = evol_eliminate(text, new, ans.value if ans is not None else None)
                    if reason:
                        st.drop(reason, rec)
                        continue
                    out = Example(
                        input=new,
                        output=ans.value if ans is not None else None,
                        metadata={**rec.metadata, "evol_method": m, "evol_round": rnd + 1},
                        provenance=self.provenance([rec], ev, template=self._evolve_prompt("", m), method=m),
                    )
                    st.kept += 1
                    yield out
                    nxt.append((out, new))
                alive = nxt


def evol_instruct(
    instructions: Iterable[Any], teacher: TeacherSpec, *, rounds: int = 1, **kw: Any
) -> list[Example]:
    """Evolved instructions (and answers) from ``instructions``."""
    return list(EvolInstruct(teacher=teacher, rounds=rounds, **kw)(as_records(instructions)))  # type: ignore[arg-type]

"""Self-Instruct (Wang et al. 2023): new instructions bootstrapped from seed tasks."""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import ConfigError
from datamill.records import Example, Provenance, Record
from datamill.synthetic.engine import Job
from datamill.synthetic.rouge import RougeIndex
from datamill.synthetic.tasks.base import TeacherSpec, TeacherStep, as_records, record_instruction

__all__ = ["SelfInstruct", "load_seed_tasks", "self_instruct", "self_instruct_filter"]

BLACKLIST = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
)
_BLACKLIST_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in BLACKLIST) + r")\b", re.IGNORECASE)
_NUMBERED = re.compile(r"^\s*\d+\s*[.):]\s*(.+?)\s*$")

SELF_INSTRUCT_TEMPLATE = (
    "Come up with a series of tasks:\n\n{tasks}\n\nNow write {n} new tasks, numbered, one per line."
)


def self_instruct_filter(instruction: str) -> str | None:
    """The Self-Instruct paper's heuristic filters; returns the reason to drop, or None to keep."""
    inst = instruction.strip()
    n = len(inst.split())
    if n <= 3:
        return "too_short"
    if n > 150:
        return "too_long"
    if _BLACKLIST_RE.search(inst):
        return "blacklisted_word"
    if inst.startswith("Write a program"):
        return "write_a_program"
    if inst[0] in string.punctuation:
        return "starts_with_punctuation"
    if not inst[0].isascii():
        return "starts_non_ascii"
    return None


def load_seed_tasks(path: str) -> list[Example]:
    """Self-Instruct seed tasks (``seed_tasks.jsonl``: id, name, instruction, instances...) as Examples."""
    from datamill.errors import InputError
    from datamill.io import iter_jsonl

    out = []
    for line_no, _, row in iter_jsonl(path):
        if not isinstance(row, dict) or not isinstance(row.get("instruction"), str):
            raise InputError("a seed task needs a string 'instruction'", path=str(path), line=line_no)
        inst = (row.get("instances") or [{}])[0]
        out.append(
            Example(
                id=str(row.get("id") or ""),
                input=row["instruction"],
                output=inst.get("output"),
                metadata={
                    "name": row.get("name"),
                    "instance_input": inst.get("input"),
                    "is_classification": row.get("is_classification"),
                },
                provenance=Provenance(source=str(path), line=line_no),
            )
        )
    return out


class SelfInstruct(TeacherStep):
    """Self-Instruct (Wang et al. 2023): new instructions bootstrapped from seed tasks.

    Each request shows ``num_prompt_instructions`` tasks (all but two from the seeds, two from the
    machine pool once it has some) and asks for ``tasks_per_request`` new ones. A candidate is kept only
    if it passes :func:`self_instruct_filter` and its ROUGE-L against every kept or seed instruction is
    below ``rouge_threshold``. Consumes the seed records; emits the new instructions as Examples.
    """

    name = "synthetic.self_instruct"
    template = SELF_INSTRUCT_TEMPLATE

    def __init__(
        self,
        *,
        teacher: TeacherSpec,
        num_instructions: int = 100,
        num_prompt_instructions: int = 8,
        tasks_per_request: int = 8,
        requests_per_round: int = 8,
        rouge_threshold: float = 0.7,
        max_rounds: int = 50,
        **kw: Any,
    ) -> None:
        kw.setdefault("temperature", 1.0)
        super().__init__(teacher=teacher, **kw)
        if (
            num_instructions < 1
            or num_prompt_instructions < 1
            or tasks_per_request < 1
            or requests_per_round < 1
        ):
            raise ConfigError(
                "num_instructions, num_prompt_instructions, tasks_per_request and requests_per_round "
                "must be >= 1"
            )
        if not 0 < rouge_threshold <= 1:
            raise ConfigError(
                f"rouge_threshold must be within (0, 1], got {rouge_threshold!r}", params="rouge_threshold"
            )
        self.num_instructions, self.num_prompt_instructions = num_instructions, num_prompt_instructions
        self.tasks_per_request, self.requests_per_round = tasks_per_request, requests_per_round
        self.rouge_threshold, self.max_rounds = rouge_threshold, max_rounds

    def generate(self, records: Iterable[Record]) -> Iterator[Record]:
        st = self.stats
        seeds = list(records)
        st.seen += len(seeds)
        if not seeds:
            return
        texts = [record_instruction(s) for s in seeds]
        pool = RougeIndex(texts)
        machine: list[tuple[str, Example]] = []
        rng = random.Random(self.seed)
        for rnd in range(self.max_rounds):
            if len(machine) >= self.num_instructions:
                break
            jobs = []
            for r in range(self.requests_per_round):
                n_machine = min(2, len(machine), self.num_prompt_instructions - 1)
                human_idx = rng.sample(
                    range(len(seeds)), min(len(seeds), self.num_prompt_instructions - n_machine)
                )
                shown = [(texts[i], seeds[i]) for i in human_idx] + rng.sample(machine, n_machine)
                tasks = "\n".join(f"{i + 1}. {t}" for i, (t, _) in enumerate(shown))
                prompt = self.template.format(tasks=tasks, n=self.tasks_per_request)
                jobs.append(
                    Job(
                        messages=[{"role": "user", "content": prompt}],
                        params=self.params_for(rnd * self.requests_per_round + r),
                        tag=[p for _, p in shown],
                    )
                )
            added = 0
            for res in self.run_jobs(jobs):
                if not res.ok:
                    self.reject(None, res)
                    continue
                for line in str(res.value).splitlines():
                    m = _NUMBERED.match(line)
                    if not m:
                        continue
                    cand = m.group(1).strip()
                    cand_rec = Example(input=cand)
                    reason = self_instruct_filter(cand)
                    if reason is None:
                        score, _ = pool.max_score(cand, threshold=self.rouge_threshold)
                        if score > self.rouge_threshold:
                            reason = "rouge_similar"
                    if reason is not None:
                        st.drop(reason, cand_rec)
                        continue
                    if len(machine) >= self.num_instructions:
                        st.drop("over_target", cand_rec)
                        continue
                    pool.add(cand)
                    parents: list[Record] = res.job.tag
                    ex = Example(
                        input=cand, provenance=self.provenance(parents, res), metadata={"round": rnd}
                    )
                    machine.append((cand, ex))
                    added += 1
                    st.kept += 1
                    yield ex


def self_instruct(
    seeds: Iterable[Any], teacher: TeacherSpec, *, num_instructions: int = 100, **kw: Any
) -> list[Example]:
    """New instructions bootstrapped from ``seeds`` with the Self-Instruct filters."""
    return list(SelfInstruct(teacher=teacher, num_instructions=num_instructions, **kw)(as_records(seeds)))  # type: ignore[arg-type]

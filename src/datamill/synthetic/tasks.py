"""Generation tasks as pipeline steps: respond, self-instruct, evol-instruct, qa-from-docs, judge,
rewrite and critique. Each is a :class:`TeacherStep` named ``synthetic.<task>``, so it composes in
recipes, and each has a plain function for Python use (``respond(...)``, ``qa_from_docs(...)``...).

Every generated record carries provenance: the teacher model, a hash of the prompt template, the
request parameters, the seed and the ids of the records it came from.
"""

from __future__ import annotations

import os
import random
import re
import string
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from datamill.errors import ConfigError
from datamill.pipeline.step import Step
from datamill.records import (
    Conversation,
    Document,
    Example,
    Message,
    Preference,
    Provenance,
    Record,
    stable_id,
)
from datamill.synthetic.cache import default_cache_path
from datamill.synthetic.engine import InvalidOutput, Job, Result, Runner, Usage, parse_json
from datamill.synthetic.rouge import RougeIndex, rouge_l, rouge_tokens
from datamill.synthetic.teachers import Teacher, make_teacher

__all__ = [
    "Critique", "EvolInstruct", "Judge", "QAFromDocs", "Respond", "Rewrite", "SelfInstruct", "TeacherStep",
    "evol_eliminate", "evol_instruct", "judge_pairs", "load_seed_tasks", "qa_from_docs", "respond", "self_instruct",
    "self_instruct_filter",
]

TeacherSpec = Teacher | dict[str, Any] | str


def _batched(records: Iterable[Any], n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def prompt_messages(rec: Any) -> list[dict[str, Any]]:
    """The chat messages a record asks: its messages (without a final answer) or its input/text/prompt."""
    if isinstance(rec, Example):
        if rec.messages:
            msgs = [m.to_dict() for m in rec.messages]
            while msgs and msgs[-1]["role"] == "assistant":
                msgs.pop()
            return msgs
        return [{"role": "user", "content": rec.input or ""}]
    if isinstance(rec, Conversation):
        msgs = [m.to_dict() for m in rec.messages]
        while msgs and msgs[-1]["role"] == "assistant":
            msgs.pop()
        return msgs
    if isinstance(rec, Document):
        return [{"role": "user", "content": rec.text}]
    if isinstance(rec, Preference):
        p = rec.prompt
        return [{"role": "user", "content": p}] if isinstance(p, str) else [m.to_dict() for m in p]
    if isinstance(rec, dict):
        for key in ("prompt", "instruction", "input", "question", "text"):
            if isinstance(rec.get(key), str):
                return [{"role": "user", "content": rec[key]}]
    raise ConfigError(f"cannot find a prompt in record {getattr(rec, 'id', rec)!r}")


def _text(value: str | list[Message]) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(str(m.content or "") for m in value)


def chat_example(prompt: list[dict[str, Any]], answer: str, **kw: Any) -> Example:
    """An Example holding the chat (``messages``: prompt + assistant answer, as datamill.finetune reads it),
    with ``input``/``output`` set too when the prompt is a single user turn."""
    msgs = [Message.from_dict(m) for m in prompt] + [Message(role="assistant", content=answer)]
    single = len(prompt) == 1 and prompt[0]["role"] == "user" and isinstance(prompt[0].get("content"), str)
    return Example(input=prompt[0]["content"] if single else None, output=answer, messages=msgs, **kw)


class TeacherStep(Step[Record]):
    """Base of the generation steps: a teacher, a cache, sampling params, batching and accounting.

    Args:
        teacher: a :class:`Teacher`, a spec dict (``{"type": "openai", "base_url": ..., "model": ...}``
            or ``{"type": "transformers", "model": "path"}``), or a local model path.
        cache: SQLite cache path; ``"default"`` is ``$DATAMILL_SYNTHETIC_CACHE`` or
            ``~/.cache/datamill/synthetic.sqlite``; None disables caching.
        temperature, max_tokens, seed: sampling parameters sent with each request.
        batch_size: records sent to the teacher concurrently per batch.
        max_reasks: extra attempts for invalid answers.
        prices: ``{model_prefix: [input, output]}`` USD per 1M tokens, added to the built-in table.
        progress: show a progress bar.
        rejects: a JSONL file that receives every job given up (invalid answer past the re-asks, or a
            teacher error past the retries): record id, reason, the last answer, the request. Appended to.
        max_failures: the share of teacher requests (0-1) that may fail past their retries; above it, or
            when every request failed, the step raises :class:`~datamill.errors.TeacherError` naming the
            first cause (checked after each batch once 20 requests were made, and at the end).
    """

    template: str = ""

    def __init__(self, *, teacher: TeacherSpec, cache: str | None = "default", temperature: float = 0.7,
                 max_tokens: int = 1024, seed: int = 0, batch_size: int = 256, max_reasks: int = 2,
                 prices: dict[str, Sequence[float]] | None = None, progress: bool = False,
                 rejects: str | None = None, max_failures: float = 0.5) -> None:
        self._teacher = make_teacher(teacher)
        if isinstance(teacher, Teacher):  # keep the recipe serialisable
            self._params["teacher"] = teacher.spec()
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size!r}")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens!r}", params="max_tokens")
        self.cache_path = default_cache_path() if cache == "default" else cache
        self.temperature, self.max_tokens, self.seed = temperature, max_tokens, seed
        self.batch_size, self.max_reasks, self.prices, self.progress = batch_size, max_reasks, prices, progress
        self.rejects = rejects
        if isinstance(max_failures, bool) or not isinstance(max_failures, int | float) or not 0 <= max_failures <= 1:
            raise ConfigError(f"max_failures must be a share between 0 and 1, got {max_failures!r}")
        self.max_failures = max_failures
        self._runner: Runner | None = None
        self._rejects_fd: int | None = None

    @property
    def teacher(self) -> Teacher:
        return self._teacher

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            self._runner = Runner(self._teacher, cache=self.cache_path, max_reasks=self.max_reasks,
                                  prices=self.prices, progress=self.progress, max_failures=self.max_failures)
        return self._runner

    @property
    def usage(self) -> Usage:
        """Tokens, cost, cache hits and invalid answers of this step so far."""
        return self.runner.usage

    def params_for(self, seed_offset: int = 0, **extra: Any) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, "seed": self.seed + seed_offset,
                **extra}

    def provenance(self, parents: Sequence[Record], sent: dict[str, Any] | Result, template: str | None = None,
                   **extra: Any) -> Provenance:
        """Teacher model, prompt template hash, the parameters and seed of the answer kept, parent ids.

        ``sent`` is a Result (its last request's parameters, and the re-asks that led to it) or params.
        """
        base = parents[0].provenance if parents else Provenance()
        if isinstance(sent, Result):
            params = sent.params if sent.params is not None else sent.job.params
            if sent.reasks:
                extra = {"reasks": sent.reasks, **extra}
        else:
            params = sent
        info = {"template_hash": stable_id(template if template is not None else self.template),
                "params": params, "seed": params.get("seed"), **extra}
        return base.child(step=self.name, parents=[p.id for p in parents], model=self._teacher.model, extra=info)

    def run_jobs(self, jobs: list[Job]) -> list[Result]:
        """Answer ``jobs``; stops the run (TeacherError) when too many teacher requests have failed."""
        results = self.runner.run(jobs)
        self.runner.check_failures(final=False)
        return results

    def reject(self, rec: Record | None, res: Result) -> None:
        """Count a job given up under its reason and, with ``rejects`` set, write it there (never kept)."""
        reason = res.error or "failed"
        self.stats.drop(reason, rec)
        if self.rejects is None:
            return
        comp = res.completion
        entry = {"step": self.name, "record_id": rec.id if rec is not None else None, "reason": reason,
                 "attempts": res.attempts, "retried_next_run": reason == "teacher_error",
                 "answer": (comp.text[:4096] if comp is not None else None),
                 "finish_reason": comp.finish_reason if comp is not None else None,
                 "error": res.value if reason == "teacher_error" else None,
                 "model": self._teacher.model, "messages": res.job.messages,
                 "params": res.params if res.params is not None else res.job.params, "reasks": res.reasks}
        if self._rejects_fd is None:
            os.makedirs(os.path.dirname(os.path.abspath(self.rejects)), exist_ok=True)
            self._rejects_fd = os.open(self.rejects, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        # one write per line on an O_APPEND descriptor: shards in other processes may append too
        os.write(self._rejects_fd, orjson.dumps(entry, default=str) + b"\n")

    def _finish(self) -> None:
        if self._rejects_fd is not None:
            os.close(self._rejects_fd)
            self._rejects_fd = None
        u = self.usage
        c = self.stats.counters
        for key, value in (("requests", u.requests), ("cache_hits", u.cache_hits), ("prompt_tokens", u.prompt_tokens),
                           ("completion_tokens", u.completion_tokens), ("failed", u.failed),
                           ("cost_microusd", round(u.cost * 1e6))):
            c[key] = value
        for reason, n in u.invalid.items():
            c[f"invalid_{reason}"] = n
        self.stats.seconds = u.seconds
        self.runner.close()

    # -- per-record tasks -------------------------------------------------------------------------
    def jobs(self, rec: Record) -> list[Job]:
        raise NotImplementedError

    def outputs(self, rec: Record, results: list[Result]) -> Iterator[Record | str]:
        """Records made from ``rec``'s results; a yielded string is a drop reason to count."""
        raise NotImplementedError

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        """Generate from ``records`` (:meth:`generate`), then check the teacher failure share and
        write the accounting into the step's stats, whatever happened."""
        try:
            yield from self.generate(records)
            self.runner.check_failures(final=True)
        finally:
            self._finish()

    def generate(self, records: Iterable[Record]) -> Iterator[Record]:
        """The records made from ``records``: by default, batches of :meth:`jobs` answered, each
        record's results handed to :meth:`outputs`."""
        st = self.stats
        for batch in _batched(records, self.batch_size):
            per = [self.jobs(rec) for rec in batch]
            results = self.run_jobs([j for js in per for j in js])
            pos = 0
            for rec, js in zip(batch, per, strict=True):
                st.seen += 1
                mine, pos = results[pos:pos + len(js)], pos + len(js)
                for res in mine:
                    if not res.ok:
                        self.reject(rec, res)
                for out in self.outputs(rec, [r for r in mine if r.ok]):
                    if isinstance(out, str):
                        st.drop(out, rec)
                    else:
                        st.kept += 1
                        yield out


# ---------------------------------------------------------------------------------------------
# respond
# ---------------------------------------------------------------------------------------------
class Respond(TeacherStep):
    """Distillation: the teacher answers each record's prompt, ``k`` samples each (seeds ``seed..seed+k-1``).

    Args:
        k: samples per prompt.
        system: an optional system prompt.
        json_mode: ask for a JSON object (``response_format``) and keep only answers that parse.
        json_schema: a JSON Schema the answer must satisfy (implies JSON mode; the server is sent it as
            ``response_format`` ``json_schema``). Answers that are not JSON (``not_json``) or break the schema
            (``schema``) are re-asked, then rejected; kept outputs are the canonical JSON text.
        (and every :class:`TeacherStep` argument)
    """

    name = "synthetic.respond"
    template = "{prompt}"

    def __init__(self, *, teacher: TeacherSpec, k: int = 1, system: str | None = None, json_mode: bool = False,
                 json_schema: dict[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(teacher=teacher, **kw)
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k!r}", params="k")
        if json_schema is not None and not isinstance(json_schema, dict):
            raise ConfigError(f"json_schema must be a JSON Schema object, got {json_schema!r}")
        self.k, self.system = k, system
        self.json_schema = json_schema
        self.json_mode = json_mode or json_schema is not None
        self._parse = _json_parser(json_schema) if self.json_mode else None

    def _messages(self, rec: Record) -> list[dict[str, Any]]:
        msgs = prompt_messages(rec)
        if self.system and not (msgs and msgs[0]["role"] == "system"):
            msgs = [{"role": "system", "content": self.system}, *msgs]
        return msgs

    def _format(self) -> dict[str, Any]:
        if self.json_schema is not None:
            return {"response_format": {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": self.json_schema, "strict": True}}}
        return {"response_format": {"type": "json_object"}} if self.json_mode else {}

    def jobs(self, rec: Record) -> list[Job]:
        msgs = self._messages(rec)
        return [Job(messages=msgs, params=self.params_for(i, **self._format()), parse=self._parse, tag=i)
                for i in range(self.k)]

    def outputs(self, rec: Record, results: list[Result]) -> Iterator[Record | str]:
        for res in results:
            msgs = res.job.messages
            prov = self.provenance([rec], res, template=self.system or self.template, sample=res.job.tag)
            answer = res.value if isinstance(res.value, str) else orjson.dumps(res.value).decode()
            yield chat_example(msgs, answer, provenance=prov, metadata={**rec.metadata, "sample": res.job.tag})


def _json_parser(schema: dict[str, Any] | None) -> Any:
    """A job ``parse``: JSON (``not_json`` otherwise) that satisfies ``schema`` (``schema`` otherwise)."""
    validator = None
    if schema is not None:
        try:
            import jsonschema
        except ImportError:  # the subset most answers need: an object with required keys
            jsonschema = None
        if jsonschema is not None:
            cls = jsonschema.validators.validator_for(schema)
            try:
                cls.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ConfigError(f"json_schema is not a valid JSON Schema: {exc.message}") from None
            validator = cls(schema)
    required = list((schema or {}).get("required") or [])

    def parse(text: str) -> Any:
        value = parse_json(text, required=required)
        if validator is not None:
            err = next(iter(validator.iter_errors(value)), None)
            if err is not None:
                where = "/".join(str(p) for p in err.absolute_path) or "(root)"
                raise InvalidOutput("schema", f"{where}: {err.message}")
        return value

    return parse


# ---------------------------------------------------------------------------------------------
# self-instruct
# ---------------------------------------------------------------------------------------------
BLACKLIST = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps", "draw",
             "plot", "go to")
_BLACKLIST_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in BLACKLIST) + r")\b", re.IGNORECASE)
_NUMBERED = re.compile(r"^\s*\d+\s*[.):]\s*(.+?)\s*$")

SELF_INSTRUCT_TEMPLATE = "Come up with a series of tasks:\n\n{tasks}\n\nNow write {n} new tasks, numbered, one per line."


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
        out.append(Example(id=str(row.get("id") or ""), input=row["instruction"], output=inst.get("output"),
                           metadata={"name": row.get("name"), "instance_input": inst.get("input"),
                                     "is_classification": row.get("is_classification")},
                           provenance=Provenance(source=str(path), line=line_no)))
    return out


def _record_instruction(rec: Record) -> str:
    if isinstance(rec, Example) and rec.input is not None:
        return rec.input
    return prompt_messages(rec)[-1]["content"]


class SelfInstruct(TeacherStep):
    """Self-Instruct (Wang et al. 2023): new instructions bootstrapped from seed tasks.

    Each request shows ``num_prompt_instructions`` tasks (all but two from the seeds, two from the
    machine pool once it has some) and asks for ``tasks_per_request`` new ones. A candidate is kept only
    if it passes :func:`self_instruct_filter` and its ROUGE-L against every kept or seed instruction is
    below ``rouge_threshold``. Consumes the seed records; emits the new instructions as Examples.
    """

    name = "synthetic.self_instruct"
    template = SELF_INSTRUCT_TEMPLATE

    def __init__(self, *, teacher: TeacherSpec, num_instructions: int = 100, num_prompt_instructions: int = 8,
                 tasks_per_request: int = 8, requests_per_round: int = 8, rouge_threshold: float = 0.7,
                 max_rounds: int = 50, **kw: Any) -> None:
        kw.setdefault("temperature", 1.0)
        super().__init__(teacher=teacher, **kw)
        if num_instructions < 1 or num_prompt_instructions < 1 or tasks_per_request < 1 or requests_per_round < 1:
            raise ConfigError("num_instructions, num_prompt_instructions, tasks_per_request and requests_per_round "
                              "must be >= 1")
        if not 0 < rouge_threshold <= 1:
            raise ConfigError(f"rouge_threshold must be within (0, 1], got {rouge_threshold!r}",
                              params="rouge_threshold")
        self.num_instructions, self.num_prompt_instructions = num_instructions, num_prompt_instructions
        self.tasks_per_request, self.requests_per_round = tasks_per_request, requests_per_round
        self.rouge_threshold, self.max_rounds = rouge_threshold, max_rounds

    def generate(self, records: Iterable[Record]) -> Iterator[Record]:
        st = self.stats
        seeds = list(records)
        st.seen += len(seeds)
        if not seeds:
            return
        texts = [_record_instruction(s) for s in seeds]
        pool = RougeIndex(texts)
        machine: list[tuple[str, Example]] = []
        rng = random.Random(self.seed)
        for rnd in range(self.max_rounds):
            if len(machine) >= self.num_instructions:
                break
            jobs = []
            for r in range(self.requests_per_round):
                n_machine = min(2, len(machine), self.num_prompt_instructions - 1)
                human_idx = rng.sample(range(len(seeds)), min(len(seeds), self.num_prompt_instructions - n_machine))
                shown = [(texts[i], seeds[i]) for i in human_idx] + rng.sample(machine, n_machine)
                tasks = "\n".join(f"{i + 1}. {t}" for i, (t, _) in enumerate(shown))
                prompt = self.template.format(tasks=tasks, n=self.tasks_per_request)
                jobs.append(Job(messages=[{"role": "user", "content": prompt}],
                                params=self.params_for(rnd * self.requests_per_round + r),
                                tag=[p for _, p in shown]))
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
                    ex = Example(input=cand, provenance=self.provenance(parents, res),
                                 metadata={"round": rnd})
                    machine.append((cand, ex))
                    added += 1
                    st.kept += 1
                    yield ex


# ---------------------------------------------------------------------------------------------
# evol-instruct
# ---------------------------------------------------------------------------------------------
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
    "#The Given Prompt#:\n{prompt}\n#Rewritten Prompt#:\n")
EVOL_BREADTH_TEMPLATE = (
    "I want you act as a Prompt Creator.\nYour goal is to draw inspiration from the #The Given Prompt# to create a "
    "brand new prompt.\nThis new prompt should belong to the same domain as the #The Given Prompt# but be even more "
    "rare.\nThe LENGTH and complexity of the #Created Prompt# should be similar to that of the #The Given Prompt#.\n"
    "The #Created Prompt# must be reasonable and must be understood and responded by humans.\n'#The Given Prompt#', "
    "'#Created Prompt#', 'given prompt' and 'created prompt' are not allowed to appear in #Created Prompt#.\n"
    "#The Given Prompt#:\n{prompt}\n#Created Prompt#:\n")
_LEAK = re.compile(r"#?\s*(the given prompt|given prompt|rewritten prompt|created prompt)\s*#?", re.IGNORECASE)
_STOPWORDS = frozenset(["a", "an", "the", "and", "or", "of", "to", "in", "on", "is", "are", "was", "it", "this", "that", "i", "you", "we", "be", "for", "with", "as", "at", "by"])


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

    def __init__(self, *, teacher: TeacherSpec, rounds: int = 1, methods: list[str] | None = None,
                 respond: bool = True, **kw: Any) -> None:
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
        for batch in _batched(records, self.batch_size):
            st.seen += len(batch)
            alive: list[tuple[Record, str]] = [(r, _record_instruction(r)) for r in batch]
            for rnd in range(self.rounds):
                if not alive:
                    break
                methods = [random.Random(f"{self.seed}:{rec.id}:{rnd}").choice(self.methods) for rec, _ in alive]
                jobs = [Job(messages=[{"role": "user", "content": self._evolve_prompt(text, m)}],
                            params=self.params_for(rnd)) for (_, text), m in zip(alive, methods, strict=True)]
                evolved = self.run_jobs(jobs)
                answers: list[Result | None] = [None] * len(alive)
                if self.respond:
                    idx = [i for i, r in enumerate(evolved) if r.ok]
                    got = self.run_jobs([Job(messages=[{"role": "user", "content": str(evolved[i].value).strip()}],
                                             params=self.params_for(rnd)) for i in idx])
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
                    out = Example(input=new, output=ans.value if ans is not None else None,
                                  metadata={**rec.metadata, "evol_method": m, "evol_round": rnd + 1},
                                  provenance=self.provenance([rec], ev,
                                                             template=self._evolve_prompt("", m), method=m))
                    st.kept += 1
                    yield out
                    nxt.append((out, new))
                alive = nxt


# ---------------------------------------------------------------------------------------------
# qa from docs
# ---------------------------------------------------------------------------------------------
QA_TEMPLATE = (
    "Read the passage and write {n} question-answer pair(s) that the passage alone answers. Each answer must be "
    "supported by the passage. {focus}Reply with JSON only: {{\"pairs\": [{{\"question\": \"...\", \"answer\": "
    "\"...\"}}]}}\n\n<passage>\n{text}\n</passage>")
#: with n_per_chunk > 1, each of the n requests for a chunk asks about its own part of the passage
QA_FOCUS = ("This is pair {i} of {n} for this passage, each written in a separate request: draw it from part {i} "
            "of the passage cut into {n} parts of about equal length, so that the {n} questions differ. ")


def _question_key(question: str) -> str:
    """A question as compared for duplicates: case, spacing and closing punctuation ignored."""
    return " ".join(question.lower().split()).rstrip(" ?.!")


def _qa_parse(text: str) -> list[dict[str, str]]:
    data = parse_json(text, required=["pairs"])
    pairs = data["pairs"]
    if not isinstance(pairs, list) or not pairs:
        raise InvalidOutput("schema", "'pairs' must be a non-empty list")
    for p in pairs:
        if not (isinstance(p, dict) and isinstance(p.get("question"), str) and isinstance(p.get("answer"), str)
                and p["question"].strip() and p["answer"].strip()):
            raise InvalidOutput("schema", "each pair needs non-empty string 'question' and 'answer'")
    return pairs


def grounding(answer: str, passage: str) -> float:
    """Share of the answer's tokens that occur in the passage (1.0 = every word is in the source)."""
    toks = rouge_tokens(answer)
    if not toks:
        return 0.0
    src = set(rouge_tokens(passage))
    return sum(t in src for t in toks) / len(toks)


class QAFromDocs(TeacherStep):
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

    def __init__(self, *, teacher: TeacherSpec, n_per_chunk: int = 1, min_grounding: float = 0.5,
                 json_mode: bool = True, min_chunk_words: int = 5, **kw: Any) -> None:
        super().__init__(teacher=teacher, **kw)
        if n_per_chunk < 1:
            raise ConfigError(f"n_per_chunk must be >= 1, got {n_per_chunk!r}", params="n_per_chunk")
        self.n_per_chunk, self.min_grounding, self.json_mode = n_per_chunk, min_grounding, json_mode
        self.min_chunk_words = min_chunk_words

    def jobs(self, rec: Record) -> list[Job]:
        text = rec.text if isinstance(rec, Document) else _text(prompt_messages(rec)[-1]["content"])
        if len(text.split()) < self.min_chunk_words:
            return []
        extra = {"response_format": {"type": "json_object"}} if self.json_mode else {}
        n = self.n_per_chunk
        return [Job(messages=[{"role": "user", "content": QA_TEMPLATE.format(
                    n=1, focus=QA_FOCUS.format(i=i + 1, n=n) if n > 1 else "", text=text)}],
                    params=self.params_for(i, **extra), parse=_qa_parse, tag=(text, i))
                for i in range(n)]

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
            ex = chat_example([{"role": "user", "content": pair["question"].strip()}], pair["answer"].strip(),
                              metadata=meta, provenance=self.provenance([rec], res, sample=sample))
            if ex.id in self._emitted:
                yield "duplicate_example"
                continue
            self._emitted.add(ex.id)
            yield ex


# ---------------------------------------------------------------------------------------------
# judge
# ---------------------------------------------------------------------------------------------
PAIRWISE_TEMPLATE = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to "
    "the user question displayed below. {criteria} Avoid any position biases and ensure that the order in which the "
    "responses were presented does not influence your decision. Do not allow the length of the responses to "
    "influence your evaluation. Be as objective as possible. After providing your explanation, output your final "
    "verdict by strictly following this format: \"[[A]]\" if assistant A is better, \"[[B]]\" if assistant B is "
    "better, and \"[[C]]\" for a tie.\n\n[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{a}\n"
    "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{b}\n[The End of Assistant B's Answer]")
RUBRIC_TEMPLATE = (
    "Please act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the "
    "user question displayed below. {criteria} Begin your evaluation by providing a short explanation. Be as "
    "objective as possible. After providing your explanation, you must rate the response on a scale of 1 to 10 by "
    "strictly following this format: \"[[rating]]\", for example: \"Rating: [[5]]\".\n\n[Question]\n{question}\n\n"
    "[The Start of Answer]\n{answer}\n[The End of Answer]")
_DEFAULT_CRITERIA = ("Consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level of "
                     "detail of the responses.")
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


class Judge(TeacherStep):
    """LLM-as-judge (MT-Bench prompts): ``pairwise`` makes Preference records, ``rubric`` scores Examples.

    Pairwise reads Preference records (``chosen``/``rejected`` are just the two candidates, in the given
    order) and asks twice with the answers swapped when ``swap`` is on; only a verdict that survives the
    swap is kept (else ``position_inconsistent``), ties are dropped as ``tie``. The output Preference puts
    the winner in ``chosen``. Rubric reads Examples (input + output) and adds ``metadata["judge_score"]``
    (1-10) and the explanation.
    """

    name = "synthetic.judge"

    def __init__(self, *, teacher: TeacherSpec, mode: str = "pairwise", swap: bool = True,
                 criteria: str | None = None, **kw: Any) -> None:
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
            return Preference(id=rec.id, prompt=rec.text, chosen=str(rec.metadata["response_a"]),
                              rejected=str(rec.metadata["response_b"]), metadata=meta, provenance=rec.provenance)
        return rec

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        return super().__call__(self._pair(r) for r in records)

    def jobs(self, rec: Record) -> list[Job]:
        if self.mode == "pairwise":
            if not isinstance(rec, Preference):
                raise ConfigError(f"pairwise judging needs Preference records, got a {rec.type_name} ({rec.id})")
            q, a, b = _text(rec.prompt), _text(rec.chosen), _text(rec.rejected)
            orders = [("A", a, b), ("B", b, a)] if self.swap else [("A", a, b)]
            return [Job(messages=[{"role": "user", "content": PAIRWISE_TEMPLATE.format(
                criteria=self.criteria, question=q, a=x, b=y)}], params=self.params_for(0), parse=_verdict, tag=first)
                for first, x, y in orders]
        if not isinstance(rec, Example) or rec.output is None and not rec.messages:
            raise ConfigError(f"rubric judging needs Example records with an output, got {rec.id}")
        q = rec.input if rec.input is not None else _text(prompt_messages(rec)[-1]["content"])
        ans = rec.output if rec.output is not None else str(rec.messages[-1].content if rec.messages else "")
        return [Job(messages=[{"role": "user", "content": RUBRIC_TEMPLATE.format(criteria=self.criteria, question=q,
                                                                                  answer=ans)}],
                    params=self.params_for(0), parse=_rating)]

    def outputs(self, rec: Record, results: list[Result]) -> Iterator[Record | str]:
        if self.mode == "rubric":
            for res in results:
                assert isinstance(rec, Example)
                meta = {**rec.metadata, "judge_score": res.value, "judge_model": self.teacher.model,
                        "judge_explanation": res.completion.text if res.completion else ""}
                yield Example(id=rec.id, input=rec.input, messages=rec.messages, output=rec.output, label=rec.label,
                              split=rec.split, metadata=meta, provenance=rec.provenance)
            return
        assert isinstance(rec, Preference)
        if len(results) < (2 if self.swap else 1):
            return  # the failed half was already counted
        # map each verdict back to the original order: "A" = rec.chosen won
        verdicts = [v if r.job.tag == "A" else {"A": "B", "B": "A", "C": "C"}[v]
                    for r in results for v in [r.value]]
        if len(set(verdicts)) > 1:
            yield "position_inconsistent"
            return
        if verdicts[0] == "C":
            yield "tie"
            return
        win, lose = (rec.chosen, rec.rejected) if verdicts[0] == "A" else (rec.rejected, rec.chosen)
        yield Preference(prompt=rec.prompt, chosen=win, rejected=lose,
                         scores={"judge_agreement": 1.0, "judge_votes": float(len(verdicts))},
                         metadata={**rec.metadata, "judge_model": self.teacher.model, "judge_verdicts": verdicts,
                                   "swapped": self.swap},
                         provenance=self.provenance([rec], results[0]))


# ---------------------------------------------------------------------------------------------
# rewrite / critique
# ---------------------------------------------------------------------------------------------
REWRITE_TEMPLATE = "Rewrite the following text so that it {instruction}. Reply with the rewritten text only.\n\n<text>\n{text}\n</text>"
CRITIQUE_TEMPLATE = (
    "Critique the response to the instruction below: point out errors, omissions and unclear parts. Reply with JSON "
    "only: {{\"critique\": \"...\", \"score\": <1-10>}}.\n\n<instruction>\n{question}\n</instruction>\n\n<response>\n"
    "{answer}\n</response>")


def _field_text(rec: Record, field: str) -> str:
    value = getattr(rec, field, None)
    if not isinstance(value, str):
        raise ConfigError(f"record {rec.id} has no text field {field!r}")
    return value


class Rewrite(TeacherStep):
    """Rewrite one text field of each record (``output`` of an Example, ``text`` of a Document)."""

    name = "synthetic.rewrite"
    template = REWRITE_TEMPLATE

    def __init__(self, *, teacher: TeacherSpec, instruction: str = "is clearer and more concise",
                 field: str = "auto", **kw: Any) -> None:
        super().__init__(teacher=teacher, **kw)
        self.instruction, self.field = instruction, field

    def _field(self, rec: Record) -> str:
        if self.field != "auto":
            return self.field
        return "text" if isinstance(rec, Document) else "output"

    def jobs(self, rec: Record) -> list[Job]:
        text = _field_text(rec, self._field(rec))
        return [Job(messages=[{"role": "user", "content": REWRITE_TEMPLATE.format(instruction=self.instruction,
                                                                                    text=text)}],
                    params=self.params_for(0))]

    def outputs(self, rec: Record, results: list[Result]) -> Iterator[Record | str]:
        for res in results:
            data = rec.to_dict()
            data.pop("type")
            field = self._field(rec)
            data["metadata"] = {**rec.metadata, f"original_{field}": data[field], "rewrite": self.instruction}
            data[field] = str(res.value).strip()
            data["id"] = ""
            data["provenance"] = self.provenance([rec], res).to_dict()
            yield type(rec).from_dict(data)


def _critique_parse(text: str) -> dict[str, Any]:
    data = parse_json(text, required=["critique", "score"])
    if not isinstance(data["critique"], str) or not isinstance(data["score"], int | float):
        raise InvalidOutput("schema", "critique must be a string and score a number")
    return data


class Critique(TeacherStep):
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
        q = rec.input if rec.input is not None else _text(prompt_messages(rec)[-1]["content"])
        extra = {"response_format": {"type": "json_object"}} if self.json_mode else {}
        return [Job(messages=[{"role": "user", "content": CRITIQUE_TEMPLATE.format(question=q, answer=rec.output)}],
                    params=self.params_for(0, **extra), parse=_critique_parse)]

    def outputs(self, rec: Record, results: list[Result]) -> Iterator[Record | str]:
        for res in results:
            assert isinstance(rec, Example)
            yield Example(id=rec.id, input=rec.input, messages=rec.messages, output=rec.output, label=rec.label,
                          split=rec.split, provenance=rec.provenance,
                          metadata={**rec.metadata, "critique": res.value["critique"],
                                    "critique_score": res.value["score"], "critique_model": self.teacher.model})


# ---------------------------------------------------------------------------------------------
# plain functions (the Python API the CLI and the quickstart call)
# ---------------------------------------------------------------------------------------------
def _as_records(items: Iterable[Any]) -> list[Record]:
    out: list[Record] = []
    for x in items:
        if isinstance(x, Record):
            out.append(x)
        elif isinstance(x, str):
            out.append(Example(input=x))
        elif isinstance(x, dict):
            out.append(Example(input=prompt_messages(x)[-1]["content"], metadata={"source_row": x}))
        else:
            raise ConfigError(f"expected records, strings or dicts, got {type(x).__name__}")
    return out


def respond(prompts: Iterable[Any], teacher: TeacherSpec, *, k: int = 1, **kw: Any) -> list[Example]:
    """Teacher answers for ``prompts`` (records, strings or dicts), ``k`` samples each."""
    return list(Respond(teacher=teacher, k=k, **kw)(_as_records(prompts)))  # type: ignore[arg-type]


def self_instruct(seeds: Iterable[Any], teacher: TeacherSpec, *, num_instructions: int = 100,
                  **kw: Any) -> list[Example]:
    """New instructions bootstrapped from ``seeds`` with the Self-Instruct filters."""
    return list(SelfInstruct(teacher=teacher, num_instructions=num_instructions, **kw)(_as_records(seeds)))  # type: ignore[arg-type]


def evol_instruct(instructions: Iterable[Any], teacher: TeacherSpec, *, rounds: int = 1, **kw: Any) -> list[Example]:
    """Evolved instructions (and answers) from ``instructions``."""
    return list(EvolInstruct(teacher=teacher, rounds=rounds, **kw)(_as_records(instructions)))  # type: ignore[arg-type]


def qa_from_docs(chunks: Iterable[Document], teacher: TeacherSpec, *, n_per_chunk: int = 1,
                 **kw: Any) -> list[Example]:
    """Grounded question/answer Examples from document chunks; each keeps its chunk id as parent."""
    return list(QAFromDocs(teacher=teacher, n_per_chunk=n_per_chunk, **kw)(list(chunks)))  # type: ignore[arg-type]


def judge_pairs(prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str],
                teacher: TeacherSpec, *, swap: bool = True, **kw: Any) -> list[Preference]:
    """Pairwise LLM-as-judge with position swapping: one Preference (winner as ``chosen``) per consistent pair."""
    if not len(prompts) == len(responses_a) == len(responses_b):
        raise ConfigError("prompts, responses_a and responses_b must have the same length")
    pairs = [Preference(prompt=p, chosen=a, rejected=b) for p, a, b in zip(prompts, responses_a, responses_b, strict=True)]
    return list(Judge(teacher=teacher, mode="pairwise", swap=swap, **kw)(pairs))  # type: ignore[arg-type]

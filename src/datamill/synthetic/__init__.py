"""Synthetic data and distillation: teacher models generate and judge data for smaller models.

    >>> from datamill.synthetic import FakeServer, OpenAITeacher, qa_from_docs
    >>> with FakeServer() as server:                                       # offline stand-in for a real API
    ...     teacher = OpenAITeacher(base_url=server.url, model="fake-teacher")
    ...     pairs = qa_from_docs(chunks, teacher, cache=None)               # doctest: +SKIP

Teachers (OpenAI-compatible HTTP, local transformers), a SQLite request cache, accounting, tasks as
pipeline steps (``synthetic.respond``, ``synthetic.self_instruct``, ``synthetic.evol_instruct``,
``synthetic.qa_from_docs``, ``synthetic.judge``, ``synthetic.rewrite``, ``synthetic.critique``) and filters.
"""

from datamill.synthetic.cache import RequestCache, default_cache_path, request_key
from datamill.synthetic.engine import PRICES, InvalidOutput, Job, Result, Runner, Usage, parse_json, price_of
from datamill.synthetic.fake_server import FakeServer, FakeServerStats, fake_answer
from datamill.synthetic.filters import (
    JudgeScoreFilter,
    LanguageFilter,
    NearDedup,
    RefusalFilter,
    RougeNovelty,
    is_refusal,
)
from datamill.synthetic.handoff import feedback_tasks, write_feedback_tasks
from datamill.synthetic.rouge import RougeIndex, lcs_length, rouge_l, rouge_tokens
from datamill.synthetic.tasks import (
    Critique,
    EvolInstruct,
    Judge,
    QAFromDocs,
    Respond,
    Rewrite,
    SelfInstruct,
    TeacherStep,
    evol_eliminate,
    evol_instruct,
    judge_pairs,
    load_seed_tasks,
    qa_from_docs,
    respond,
    self_instruct,
    self_instruct_filter,
)
from datamill.synthetic.teachers import Completion, OpenAITeacher, Teacher, TransformersTeacher, make_teacher

__all__ = [
    "Completion",
    "Critique",
    "EvolInstruct",
    "FakeServer",
    "FakeServerStats",
    "InvalidOutput",
    "Job",
    "Judge",
    "JudgeScoreFilter",
    "LanguageFilter",
    "NearDedup",
    "OpenAITeacher",
    "PRICES",
    "QAFromDocs",
    "RefusalFilter",
    "RequestCache",
    "Respond",
    "Result",
    "Rewrite",
    "RougeIndex",
    "RougeNovelty",
    "Runner",
    "SelfInstruct",
    "Teacher",
    "TeacherStep",
    "TransformersTeacher",
    "Usage",
    "default_cache_path",
    "evol_eliminate",
    "evol_instruct",
    "fake_answer",
    "feedback_tasks",
    "is_refusal",
    "judge_pairs",
    "lcs_length",
    "load_seed_tasks",
    "make_teacher",
    "parse_json",
    "price_of",
    "qa_from_docs",
    "request_key",
    "respond",
    "rouge_l",
    "rouge_tokens",
    "self_instruct",
    "self_instruct_filter",
    "write_feedback_tasks",
]

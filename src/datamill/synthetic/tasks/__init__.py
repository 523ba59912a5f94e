"""Generation tasks as pipeline steps: respond, self-instruct, evol-instruct, qa-from-docs, judge,
rewrite and critique. Each is a :class:`TeacherStep` named ``synthetic.<task>``, so it composes in
recipes, and each has a plain function for Python use (``respond(...)``, ``qa_from_docs(...)``...).

Every generated record carries provenance: the teacher model, a hash of the prompt template, the
request parameters, the seed and the ids of the records it came from.

One module per task family: ``base`` (the :class:`TeacherStep` base and shared helpers), ``distill``
(respond, rewrite), ``judge`` (judge, critique), ``selfinstruct``, ``evol`` and ``docqa``.
"""

from datamill.synthetic.tasks.base import TeacherStep
from datamill.synthetic.tasks.distill import Respond, Rewrite, respond
from datamill.synthetic.tasks.docqa import QAFromDocs, qa_from_docs
from datamill.synthetic.tasks.evol import EvolInstruct, evol_eliminate, evol_instruct
from datamill.synthetic.tasks.judge import Critique, Judge, judge_pairs
from datamill.synthetic.tasks.selfinstruct import (
    SelfInstruct,
    load_seed_tasks,
    self_instruct,
    self_instruct_filter,
)

__all__ = [
    "Critique",
    "EvolInstruct",
    "Judge",
    "QAFromDocs",
    "Respond",
    "Rewrite",
    "SelfInstruct",
    "TeacherStep",
    "evol_eliminate",
    "evol_instruct",
    "judge_pairs",
    "load_seed_tasks",
    "qa_from_docs",
    "respond",
    "self_instruct",
    "self_instruct_filter",
]

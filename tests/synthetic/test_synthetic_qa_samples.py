"""qa_from_docs(n_per_chunk=n): n distinct requests per chunk, distinct questions and ids; identical
generated pairs are dropped with a counted reason, never emitted twice."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from datamill.records import Document
from datamill.synthetic import QAFromDocs, qa_from_docs
from datamill.synthetic.teachers import Completion, Teacher

EVEREST = (
    "Mount Everest is the highest mountain above sea level. It lies in the Himalayas on the border of "
    "Nepal and China. Climbers first reached its summit in 1953. The mountain grows a few millimetres "
    "each year."
)


def test_n_per_chunk_makes_n_distinct_requests_questions_and_ids(teacher, fake_server, cache_path):
    out = qa_from_docs([Document(id="c1", text=EVEREST)], teacher, n_per_chunk=3, cache=cache_path)
    assert len(out) == 3
    assert len({e.id for e in out}) == 3 and len({e.input for e in out}) == 3
    assert sorted(e.metadata["sample"] for e in out) == [0, 1, 2]
    assert sorted(e.provenance.extra["seed"] for e in out) == [0, 1, 2]
    assert all(e.provenance.parents == ["c1"] and e.output in EVEREST for e in out)
    assert (
        fake_server.requests == 3 and len(fake_server.stats.completed) == 3
    )  # three different request bodies
    # each request is cached under its own key: a rerun sends nothing and gives the same examples
    fake_server.reset_stats()
    again = qa_from_docs([Document(id="c1", text=EVEREST)], teacher, n_per_chunk=3, cache=cache_path)
    assert fake_server.requests == 0 and [e.id for e in again] == [e.id for e in out]


def test_one_pair_per_chunk_asks_as_before(teacher, fake_server):
    step = QAFromDocs(teacher=teacher, cache=None)
    [job] = step.jobs(Document(text=EVEREST))
    assert (
        "pair 1 of 1" not in job.messages[0]["content"]
        and "write 1 question-answer pair(s)" in job.messages[0]["content"]
    )
    jobs = QAFromDocs(teacher=teacher, cache=None, n_per_chunk=2).jobs(Document(text=EVEREST))
    assert [
        "pair 1 of 2" in jobs[0].messages[0]["content"],
        "pair 2 of 2" in jobs[1].messages[0]["content"],
    ] == [True, True]
    assert [j.params["seed"] for j in jobs] == [0, 1]


class _SameAnswer(Teacher):
    """A teacher that writes the same pair whatever it is asked (as a model may)."""

    def __init__(self, pairs: list[dict[str, str]]) -> None:
        self.model, self.sent, self.retries, self.pairs = "same", 0, Counter(), pairs
        self.prompts: list[str] = []

    def spec(self) -> dict[str, Any]:
        return {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": self.model}

    async def complete(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        self.sent += 1
        self.prompts.append(messages[-1]["content"])
        return Completion(text=json.dumps({"pairs": self.pairs}), prompt_tokens=10, completion_tokens=10)


def test_identical_generated_pairs_are_dropped_with_a_counted_reason():
    t = _SameAnswer(
        [{"question": "Which is the highest mountain?", "answer": "Mount Everest is the highest mountain"}]
    )
    step = QAFromDocs(teacher=t, cache=None, n_per_chunk=2)
    chunks = [
        Document(id="a", text=EVEREST),
        Document(id="b", text=EVEREST + " Its Tibetan name is Chomolungma."),
    ]
    out = list(step(chunks))
    assert t.sent == 4 and len(set(t.prompts)) == 4  # two requests per chunk, each its own prompt
    assert len(out) == 1 and out[0].metadata["chunk_id"] == "a"
    assert step.stats.dropped == {"duplicate_question": 2, "duplicate_example": 1}
    assert step.stats.seen == 2 and step.stats.kept == 1


def test_questions_that_differ_only_in_case_and_spacing_are_duplicates():
    t = _SameAnswer([{"question": "Which is the highest mountain?", "answer": "Mount Everest"}])
    step = QAFromDocs(teacher=t, cache=None, n_per_chunk=2)
    prompts = iter([" which is  the HIGHEST mountain", "Which is the highest mountain?"])

    async def complete(messages, params):  # noqa: ANN001, ANN202
        return Completion(
            text=json.dumps({"pairs": [{"question": next(prompts), "answer": "Mount Everest"}]})
        )

    t.complete = complete  # type: ignore[method-assign]
    assert len(list(step([Document(id="a", text=EVEREST)]))) == 1
    assert step.stats.dropped == {"duplicate_question": 1}


def test_a_one_sentence_chunk_never_gives_the_same_example_twice(teacher):
    """The reported case: two pairs asked of a passage with one fact gave two identical examples, one id."""
    step = QAFromDocs(teacher=teacher, cache=None, n_per_chunk=2)
    out = list(step([Document(id="c1", text="Mount Everest is the highest mountain above sea level.")]))
    assert len(out) == len({e.id for e in out}) == 1
    assert step.stats.dropped == {"duplicate_question": 1}

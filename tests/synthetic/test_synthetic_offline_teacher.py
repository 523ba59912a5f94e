"""The fake server as an offline teacher whose output a person can read: questions a reader would ask
of a passage, answers quoted from it, a judge that checks answers against the passage, rephrasings."""

from __future__ import annotations

import re

from datamill.records import Document, Example, Message, Preference
from datamill.synthetic import Judge, Rewrite, fake_answer, qa_from_docs, respond

PAGES = {
    "Thunder is the sound made by lightning. Lightning is a spark of electricity.": "What is thunder?",
    "Learning to read a map starts with the contour lines. The contour interval is printed in the map legend.": "Where is the contour interval printed?",
    "Our bakery has been part of the neighbourhood since 1962. We close on Mondays.": "How long has the bakery been part of the neighbourhood?",
    "The city council voted on Tuesday to extend the night bus service to the northern districts.": "What did the city council do?",
    "- Taylor Alison Swift is an American singer-songwriter.": "Who is Taylor Alison Swift?",
    "The Amazon river carries more water than any other river. It flows through Brazil, Peru and Colombia.": "What does the Amazon river carry?",
}


def test_questions_are_what_a_reader_asks_and_answers_are_quoted(teacher):
    chunks = [Document(id=f"c{i}", text=t) for i, t in enumerate(PAGES)]
    qa = qa_from_docs(chunks, teacher, cache=None)
    assert [e.input for e in qa] == list(PAGES.values())
    for ex, page in zip(qa, PAGES, strict=True):
        assert ex.output in page and ex.metadata["grounding"] == 1.0
    # a page of fragments and instructions still gets a question about what it is about
    [ex] = qa_from_docs(
        [
            Document(
                id="x",
                text="Write a poem about the sea. Explain the water cycle. For example, "
                "look at biker clubs. I saw five biker clubs at the rally.",
            )
        ],
        teacher,
        cache=None,
    )
    assert ex.input == "What does the passage say about biker clubs?" and "biker clubs" in ex.output


def test_a_question_without_its_passage_gets_a_fluent_unsourced_answer(teacher):
    asked = [
        "What is thunder?",
        "Quick question: what does the passage say about biker clubs?",
        "How long has the bakery been part of the neighbourhood?",
    ]
    out = [a.output for a in respond(asked, teacher, cache=None)]
    for answer, topic in zip(out, ["thunder", "biker clubs", "the bakery"], strict=True):
        assert topic in answer.lower() and len(answer.split()) > 15, answer
        assert not re.search(r"\b(quick|question|passage|neighbourhood)\b", answer), (
            answer
        )  # not keywords strung
    assert "Thunder is the sound" not in out[0]  # it has no passage to quote


def _pair(question: str, passage: str, first: str, second: str) -> Preference:
    return Preference(
        prompt=[
            Message(role="system", content="Answer from the passage the user gives."),
            Message(role="user", content=f"<passage>\n{passage}\n</passage>\n\n{question}"),
        ],
        chosen=first,
        rejected=second,
    )


def test_the_judge_reads_the_passage_not_the_position_or_the_length(teacher, fake_server):
    passage = next(iter(PAGES))
    grounded = "Thunder is the sound made by lightning."
    fluent = fake_answer([{"role": "user", "content": "What is thunder?"}])
    assert len(fluent) > 2 * len(grounded)
    judged = list(
        Judge(teacher=teacher, cache=None)(
            [
                _pair("What is thunder?", passage, grounded, fluent),
                _pair("What is thunder?", passage, fluent, grounded),
            ]
        )
    )
    assert [j.chosen for j in judged] == [grounded, grounded]
    assert judged[0].metadata["judge_verdicts"] == ["A", "A"] and judged[1].metadata["judge_verdicts"] == [
        "B",
        "B",
    ]
    # the verdict explains itself with the share of each answer's words found in the passage
    prompt = Judge(teacher=teacher, cache=None).jobs(_pair("What is thunder?", passage, grounded, fluent))[0]
    assert "supported by the passage (100%" in fake_answer(prompt.messages)
    # with no passage to check against, the more complete answer wins as before
    [plain] = list(
        Judge(teacher=teacher, cache=None)(
            [Preference(prompt="What is thunder?", chosen=grounded, rejected=fluent)]
        )
    )
    assert plain.chosen == fluent


def test_rewriting_a_question_in_other_words_varies_with_the_seed(teacher):
    ex = Example(input="What is thunder?")
    out = [
        r.input
        for k in range(1, 5)
        for r in Rewrite(
            teacher=teacher,
            instruction="asks the same question in other words",
            field="input",
            seed=k,
            cache=None,
        )([ex])
    ]
    assert len(set(out)) == 4 and all("thunder" in q for q in out) and "What is thunder?" not in out
    about = Example(input="What does the passage say about biker clubs?")
    again = [
        r.input
        for k in range(1, 9)
        for r in Rewrite(
            teacher=teacher, instruction="asks it in other words", field="input", seed=k, cache=None
        )([about])
    ]
    assert not any("passage, what does the passage" in q.lower() for q in again)  # no "the passage" twice

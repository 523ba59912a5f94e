"""Filters for generated data, and respond on multi-turn input."""

from __future__ import annotations

from datamill.records import Conversation, Example, Message
from datamill.synthetic import (
    JudgeScoreFilter,
    LanguageFilter,
    NearDedup,
    RefusalFilter,
    RougeNovelty,
    is_refusal,
    respond,
)


def _ex(text, output="ok"):
    return Example(input=text, output=output)


def test_refusal_and_boilerplate():
    assert is_refusal("As an AI language model, I cannot browse.") == "refusal"
    assert is_refusal("I'm sorry, but I can't help with that.") == "refusal"
    assert is_refusal("Certainly! Here is the list you asked for.") == "boilerplate"
    assert is_refusal("Paris is the capital of France.") is None
    f = RefusalFilter()
    kept = list(
        f([_ex("a", "I apologize, I cannot do that."), _ex("b", "Paris."), _ex("c", "Sure! Here's it.")])
    )
    assert [k.input for k in kept] == ["b"] and f.stats.dropped == {"refusal": 1, "boilerplate": 1}
    assert len(list(RefusalFilter(boilerplate=False)([_ex("c", "Sure! Here's it.")]))) == 1


def test_rouge_novelty_and_near_dedup():
    recs = [
        _ex("Explain the causes of inflation in simple terms."),
        _ex("Describe the causes of inflation in simple terms."),
        _ex("Write a haiku about the autumn rain falling softly."),
    ]
    f = RougeNovelty(threshold=0.7)
    assert [r.input for r in f(recs)] == [recs[0].input, recs[2].input] and f.stats.dropped[
        "rouge_similar"
    ] == 1
    f = RougeNovelty(threshold=0.7, reference=["Write a haiku about the autumn rain falling softly!"])
    assert len(list(f(recs[2:]))) == 0
    d = NearDedup(threshold=0.5, ngram=2)
    out = list(
        d(
            [
                _ex("the quick brown fox jumps over the lazy dog today"),
                _ex("the quick brown fox jumps over the lazy dog today!"),
                _ex("completely different words here"),
            ]
        )
    )
    assert len(out) == 2 and d.stats.dropped["near_duplicate"] == 1


def test_language_and_score():
    f = LanguageFilter(languages=["en"])
    kept = list(
        f(
            [
                _ex("Explain how the moon causes the tides on Earth."),
                _ex("Expliquez comment la lune provoque les marées sur la Terre."),
            ]
        )
    )
    assert len(kept) == 1 and f.stats.dropped["language_fr"] == 1
    s = JudgeScoreFilter(min_score=7)
    recs = [
        Example(input="a", metadata={"judge_score": 8}),
        Example(input="b", metadata={"judge_score": 3}),
        Example(input="c"),
    ]
    assert [r.input for r in s(recs)] == ["a"] and s.stats.dropped == {"low_score": 1, "no_score": 1}


def test_respond_on_conversations_keeps_the_turns(teacher):
    conv = Conversation(
        id="c1",
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="user", content="Name a planet."),
            Message(role="assistant", content="Mars."),
            Message(role="user", content="Another one?"),
        ],
    )
    [out] = respond([conv], teacher, cache=None)
    assert [m.role for m in out.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert out.messages[-1].content and out.provenance.parents == ["c1"]

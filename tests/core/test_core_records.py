import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill.records import (
    Conversation,
    Document,
    Example,
    Judgement,
    Message,
    Preference,
    Provenance,
    Record,
    from_dict,
    from_json,
)

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text()
json_values = st.recursive(
    json_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(), c, max_size=3), max_leaves=10
)
prov = st.builds(
    Provenance,
    source=st.none() | st.text(),
    line=st.none() | st.integers(0, 10**9),
    step=st.none() | st.text(),
    parents=st.lists(st.text(), max_size=3),
)
messages = st.lists(
    st.builds(Message, role=st.sampled_from(["system", "user", "assistant"]), content=st.text()),
    min_size=1,
    max_size=4,
)


@given(text=st.text(), meta=st.dictionaries(st.text(), json_values, max_size=4), p=prov)
def test_document_round_trips_through_json(text, meta, p):
    d = Document(text=text, metadata=meta, provenance=p)
    assert from_json(d.to_json()) == d
    assert from_dict(d.to_dict()) == d


@given(
    msgs=messages,
    out=st.none() | st.text(),
    label=json_values,
    split=st.none() | st.sampled_from(["train", "test"]),
)
def test_example_and_conversation_round_trip(msgs, out, label, split):
    e = Example(messages=msgs, output=out, label=label, split=split)
    assert from_json(e.to_json()) == e
    c = Conversation(messages=msgs)
    assert from_json(c.to_json()) == c


def test_preference_and_judgement_round_trip():
    p = Preference(
        prompt=[Message(role="user", content="2+2?")], chosen="4", rejected="5", scores={"margin": 1.5}
    )
    assert from_json(p.to_json()) == p
    j = Judgement(
        annotator="ann1",
        task="t1",
        value={"choice": "A", "strength": 2},
        provenance=Provenance(annotator="ann1", parents=["t1"]),
    )
    assert from_json(j.to_json()) == j


def test_ids_are_stable_content_hashes():
    assert Document(text="a").id == Document(text="a").id
    assert Document(text="a").id != Document(text="b").id
    assert Document(id="x", text="a").id == "x"


@pytest.mark.parametrize(
    "row, reason",
    [
        ({"type": "document", "text": 5}, "text must be a string"),
        ({"type": "document"}, "bad document record"),
        ({"type": "nope", "text": "x"}, "unknown record type"),
        ({"type": "document", "text": "x", "extra": 1}, "unknown document keys"),
        ({"type": "example", "output": "x"}, "needs 'input' or 'messages'"),
        ({"type": "conversation", "messages": [{"role": "robot", "content": "x"}]}, "unknown message role"),
        ({"text": "x"}, "no 'type' key"),
    ],
)
def test_bad_records_say_why(row, reason):
    with pytest.raises(ValueError, match=reason):
        Record.from_dict(row)

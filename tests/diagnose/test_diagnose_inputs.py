"""Readers: results, training sets in every accepted shape, feedback, contexts; errors name file:line."""

from __future__ import annotations

import orjson
import pytest

from datamill.diagnose import (
    annotator_agreement,
    find_contradictions,
    llm_judge,
    overall_agreement,
    read_contexts,
    read_feedback,
    read_results,
    read_train,
)
from datamill.errors import InputError
from datamill.records import Example, Judgement, Message


def _jsonl(path, rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def test_results_shapes(tmp_path):
    rows = [
        {"id": "a", "input": "2+2?", "expected": "4", "output": "4"},
        {
            "id": "b",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital?"}],
            "expected": "Paris",
            "output": "Lyon",
            "contexts": ["Paris is the capital.", {"text": "Lyon is big."}],
        },
        {"id": "c", "question": "q", "expected": "x", "output": "y", "score": 0.7},
        {"id": "d", "input": "q", "label": "x", "prediction": "y", "correct": False, "probs": [0.2, 0.8]},
    ]
    items = read_results(_jsonl(tmp_path / "r.jsonl", rows))
    assert [x.correct for x in items] == [True, False, True, False]
    assert items[1].input == "Be brief.\nCapital?" and items[1].contexts == [
        "Paris is the capital.",
        "Lyon is big.",
    ]
    assert items[3].probs == [0.2, 0.8] and items[3].expected == "x" and items[3].where.endswith("r.jsonl:4")
    assert read_results(rows)[0].id == "a"  # in-memory rows too


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"expected": "x", "output": "y"}, "needs 'input' or 'messages'"),
        ({"input": "q"}, "needs 'correct', 'score'"),
        ({"input": "q", "correct": "yes"}, "'correct' must be true or false"),
        ({"input": "q", "correct": True, "probs": {"a": 1}}, "'probs' must be a list"),
        ({"input": "q", "score": "high"}, "'score' must be a number"),
    ],
)
def test_results_errors_name_file_and_line(tmp_path, row, message):
    path = _jsonl(tmp_path / "r.jsonl", [{"input": "ok", "correct": True}, row])
    with pytest.raises(InputError, match=message) as exc:
        read_results(path)
    assert f"{path}:2" in str(exc.value)


def test_results_bad_json_and_duplicates(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"input": "a", "correct": true}\n{not json\n')
    with pytest.raises(InputError, match=r"r\.jsonl:2"):
        read_results(path)
    _jsonl(path, [{"id": 1, "input": "a", "correct": True}, {"id": 1, "input": "b", "correct": True}])
    with pytest.raises(InputError, match="duplicate result id '1'"):
        read_results(path)
    with pytest.raises(InputError, match="not found"):
        read_results(tmp_path / "missing.jsonl")


def test_train_shapes(tmp_path):
    plain = read_train(
        _jsonl(tmp_path / "p.jsonl", [{"input": "hi", "label": "greet"}, {"text": "x", "output": "y"}])
    )
    assert [(t.input, t.target) for t in plain] == [("hi", "greet"), ("x", "y")]
    openai = read_train(
        _jsonl(
            tmp_path / "o.jsonl",
            [{"messages": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}]}],
        )
    )
    assert (openai[0].input, openai[0].target) == ("Q1", "A1")
    alpaca = read_train(_jsonl(tmp_path / "a.jsonl", [{"instruction": "Sum", "input": "1 2", "output": "3"}]))
    assert (alpaca[0].input, alpaca[0].target) == ("Sum\n1 2", "3")
    sharegpt = read_train(
        _jsonl(
            tmp_path / "s.jsonl",
            [{"conversations": [{"from": "human", "value": "Hey"}, {"from": "gpt", "value": "Hello"}]}],
        )
    )
    assert (sharegpt[0].input, sharegpt[0].target) == ("Hey", "Hello")
    recs = [
        Example(input="i", label="L"),
        Example(messages=[Message(role="user", content="u"), Message(role="assistant", content="a")]),
    ]
    assert [(t.input, t.target) for t in read_train(recs)] == [("i", "L"), ("u", "a")]
    typed = read_train(_jsonl(tmp_path / "t.jsonl", [r.to_dict() for r in recs]))
    assert [t.target for t in typed] == ["L", "a"] and typed[0].id == recs[0].id


def test_train_hf_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([{"question": "q1", "answer": "a1"}, {"question": "q2", "answer": "a2"}])
    assert [t.target for t in read_train(ds)] == ["a1", "a2"]
    ds.save_to_disk(str(tmp_path / "hf"))
    assert [t.input for t in read_train(str(tmp_path / "hf"))] == ["q1", "q2"]


def test_train_errors(tmp_path):
    path = _jsonl(tmp_path / "t.jsonl", [{"input": "a", "label": "x"}, {"foo": 1}])
    with pytest.raises(InputError, match=r"t\.jsonl:2: bad training row"):
        read_train(path)
    path = _jsonl(tmp_path / "t.jsonl", [{"messages": [{"role": "user", "content": "no answer"}]}])
    with pytest.raises(InputError, match="no target"):
        read_train(path)


def test_feedback_and_agreement(tmp_path):
    rows = [
        {"annotator": "a", "task": "t1", "value": "x"},
        {"annotator": "b", "task": "t1", "value": "x"},
        {"annotator": "c", "task": "t1", "value": "y"},
        {"annotator": "a", "item_id": "t2", "label": "z"},
        {"annotator": "c", "task": "t2", "value": "z"},
        {"annotator": "c", "task": "g", "value": "n", "gold": "m"},
    ]
    items = read_feedback(_jsonl(tmp_path / "f.jsonl", rows))
    items += read_feedback([Judgement(annotator="b", task="t2", value="z")])
    tasks, annotators = annotator_agreement(items)
    by_task = {t.task: t for t in tasks}
    assert by_task["t1"].agreement == pytest.approx(1 / 3) and by_task["t1"].majority == "x"
    assert by_task["t2"].agreement == 1.0 and tasks[0].task == "t1"
    by_ann = {a.annotator: a for a in annotators}
    assert by_ann["c"].vs_consensus == pytest.approx(0.5) and by_ann["a"].vs_consensus == 1.0
    assert (by_ann["c"].gold_seen, by_ann["c"].gold_failed) == (1, 1)
    overall = overall_agreement(items)
    assert -1 <= overall["krippendorff_alpha"] < 1
    assert {(p["a"], p["b"]) for p in overall["pairwise_cohen"]} >= {("a", "c")}
    with pytest.raises(InputError, match=r"f\.jsonl:1: a judgement needs"):
        read_feedback(_jsonl(tmp_path / "f.jsonl", [{"annotator": "a"}]))


def test_contexts_file(tmp_path):
    ctx = read_contexts(
        _jsonl(tmp_path / "c.jsonl", [{"id": "a", "contexts": ["p1", "p2"]}, {"id": 7, "context": "p3"}])
    )
    assert ctx == {"a": ["p1", "p2"], "7": ["p3"]}
    with pytest.raises(InputError, match=r"c\.jsonl:1"):
        read_contexts(_jsonl(tmp_path / "c.jsonl", [{"contexts": ["x"]}]))


def test_contradiction_rules():
    found = find_contradictions(
        [
            "The Aurora router supports up to 32 devices. Support answers on weekdays.",
            "Up to 64 devices are supported by the Aurora router.",
        ]
    )
    assert [c.kind for c in found] == ["numeric"] and "32 vs 64" in found[0].detail
    found = find_contradictions(["The museum opened on 3 March 1990.", "The museum opened on 3 March 1995."])
    assert [c.kind for c in found] == ["numeric"]
    found = find_contradictions(
        ["The tablet is covered by the damage plan.", "The tablet is not covered by the damage plan."]
    )
    assert [c.kind for c in found] == ["negation"]
    # same numbers, different facts, or unrelated sentences: nothing
    assert (
        find_contradictions(
            [
                "The laptop warranty lasts 12 months.",
                "Shipping a laptop takes 5 days.",
                "The laptop warranty lasts 12 months.",
            ]
        )
        == []
    )
    judge = llm_judge(lambda prompt: "Yes." if "sunny" in prompt and "raining" in prompt else "No")
    found = find_contradictions(
        ["The weather in Oslo today is sunny.", "Today it is raining in Oslo weather."], judge=judge
    )
    assert [c.kind for c in found] == ["judge"]


def test_public_api_sorted():
    import datamill.diagnose as dg

    assert dg.__all__ == sorted(dg.__all__)
    assert all(hasattr(dg, n) for n in dg.__all__)

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamill.errors import InputError
from datamill.finetune import FORMATS, convert, detect_format, from_row, read_examples, to_row, write_examples
from datamill.records import Message, Preference

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    str.strip
)


@st.composite
def conversations(draw):
    msgs = []
    if draw(st.booleans()):
        msgs.append({"role": "system", "content": draw(text)})
    for _ in range(draw(st.integers(1, 3))):
        msgs += [{"role": "user", "content": draw(text)}, {"role": "assistant", "content": draw(text)}]
    return msgs


def content(rec):
    return [(m.role, m.content) for m in rec.messages]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(msgs=conversations(), via=st.sampled_from(["sharegpt", "alpaca", "trl_prompt_completion", "openai"]))
def test_openai_round_trips_through_every_supervised_format(msgs, via):
    rec = from_row({"messages": msgs}, "openai")
    row = to_row(rec, via)
    back = from_row(json.loads(json.dumps(row)), via)
    assert content(back) == content(rec)
    again = from_row(to_row(back, "openai"), "openai")
    assert content(again) == content(rec)


@settings(max_examples=40)
@given(msgs=conversations(), chain=st.permutations(["sharegpt", "alpaca", "trl_prompt_completion"]))
def test_chains_of_conversions_preserve_content(msgs, chain):
    rec = from_row({"messages": msgs}, "openai")
    cur = rec
    for fmt in [*chain, "openai"]:
        cur = from_row(json.loads(json.dumps(to_row(cur, fmt))), fmt)
    assert content(cur) == content(rec)


@settings(max_examples=40)
@given(prompt=text, chosen=text, rejected=text, via=st.sampled_from(["openai_dpo", "trl_preference"]))
def test_preferences_round_trip(prompt, chosen, rejected, via):
    pref = Preference(
        prompt=[Message(role="user", content=prompt)],
        chosen=[Message(role="assistant", content=chosen)],
        rejected=[Message(role="assistant", content=rejected)],
    )
    back = from_row(to_row(pref, via), via)
    other = "trl_preference" if via == "openai_dpo" else "openai_dpo"
    back2 = from_row(to_row(back, other), other)
    for r in (back, back2):
        assert [m.content for m in r.prompt] == [prompt]
        assert [m.content for m in r.chosen] == [chosen] and [m.content for m in r.rejected] == [rejected]


def test_alpaca_fields_survive_a_round_trip_through_openai():
    row = {
        "instruction": "Translate to French.",
        "input": "Good morning",
        "output": "Bonjour",
        "system": "You translate.",
        "history": [["Hi", "Hello!"]],
    }
    rec = from_row(row, "alpaca")
    assert [m.role for m in rec.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert to_row(rec, "alpaca") == row
    assert from_row(to_row(rec, "openai"), "openai").messages == rec.messages


def test_tool_calls_keep_their_arguments_through_sharegpt():
    row = {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "18C"},
            {"role": "assistant", "content": "It is 18C."},
        ]
    }
    rec = from_row(row, "openai")
    share = to_row(rec, "sharegpt")
    assert [t["from"] for t in share["conversations"]] == ["human", "function_call", "observation", "gpt"]
    back = from_row(share, "sharegpt")
    assert back.messages[1].tool_calls[0]["function"] == {"name": "weather", "arguments": '{"city": "Paris"}'}
    assert back.messages[2].tool_call_id == "c1"


@pytest.mark.parametrize(
    "row, fmt",
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "openai"),
        ({"conversations": [{"from": "human", "value": "x"}]}, "sharegpt"),
        ({"instruction": "x", "input": "", "output": "y"}, "alpaca"),
        ({"prompt": "x", "completion": "y"}, "trl_prompt_completion"),
        ({"prompt": "x", "completion": "y", "label": True}, "trl_unpaired_preference"),
        ({"prompt": "x", "chosen": "y", "rejected": "z"}, "trl_preference"),
        ({"input": {"messages": []}, "preferred_output": [], "non_preferred_output": []}, "openai_dpo"),
        ({"text": "x"}, "trl_text"),
    ],
)
def test_detect_each_format(row, fmt):
    assert fmt in FORMATS
    assert detect_format([(1, row)]) == fmt


def test_mixed_and_unknown_formats_are_clear(tmp_path):
    p = tmp_path / "mixed.jsonl"
    p.write_text(
        json.dumps({"messages": [{"role": "user", "content": "a"}]})
        + "\n"
        + json.dumps({"instruction": "b", "output": "c"})
        + "\n"
    )
    with pytest.raises(
        InputError, match=r"mixed formats in one file: openai \(first at line 1\), alpaca \(first at line 2\)"
    ):
        list(read_examples(p))
    q = tmp_path / "odd.jsonl"
    q.write_text(json.dumps({"question": "a", "answer": "b"}) + "\n")
    with pytest.raises(
        InputError, match=r"odd.jsonl:1: unrecognised fine-tuning format \(keys \['answer', 'question'\]\)"
    ):
        list(read_examples(q))


def test_files_parquet_and_hf_in_and_out(tmp_path, sample_data):
    rows = []  # the seed tasks as Alpaca rows
    for line in (sample_data / "finetune" / "self_instruct_seed_tasks.jsonl").read_text().splitlines():
        d = json.loads(line)
        rows.append(
            {
                "instruction": d["instruction"],
                "input": d["instances"][0]["input"],
                "output": d["instances"][0]["output"],
            }
        )
    src = tmp_path / "alpaca.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert convert(src, tmp_path / "chat.parquet", to="openai").written == 175
    assert convert(tmp_path / "chat.parquet", tmp_path / "hf", to="sharegpt").written == 175
    import datasets

    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    assert ds.column_names == ["conversations"] and len(ds) == 175
    back = list(read_examples(tmp_path / "hf"))
    assert to_row(back[0], "alpaca") == rows[0]


def test_keep_ids_carries_lineage(tmp_path):
    rec = from_row(
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, "openai"
    )
    rec.provenance.parents.append("parent-1")
    write_examples([rec], tmp_path / "t.jsonl", format="openai", keep_ids=True)
    row = json.loads((tmp_path / "t.jsonl").read_text())
    assert row["id"] == rec.id and row["datamill"]["provenance"]["parents"] == ["parent-1"]


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "datamill.cli.main", "finetune", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "content, message",
    [
        (b"this is not json\n", "not valid JSON"),
        (b"[1, 2, 3]\n", "unrecognised fine-tuning format (keys list)"),
        (
            json.dumps({"messages": [{"role": "user", "content": "a"}]}).encode()
            + b"\n"
            + json.dumps({"prompt": "a", "completion": "b"}).encode()
            + b"\n",
            "mixed formats",
        ),
    ],
)
def test_bad_input_gives_a_clear_error_not_a_traceback(tmp_path, content, message):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    proc = _cli("convert", str(p), str(tmp_path / "o.jsonl"), "--to", "sharegpt")
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_a_100mb_line_is_reported_not_loaded(tmp_path):
    p = tmp_path / "huge.jsonl"
    line = b'{"messages": [{"role": "user", "content": "' + b"x" * (100 * 1024 * 1024) + b'"}]}\n'
    with open(p, "wb") as fh:
        fh.write(line)
        fh.write(
            json.dumps(
                {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
            ).encode()
            + b"\n"
        )
    proc = _cli("convert", str(p), str(tmp_path / "o.jsonl"), "--to", "sharegpt")
    assert (
        proc.returncode == 1
        and f"huge.jsonl:1: line is {len(line):,} bytes, over max_line_bytes" in proc.stderr
    )
    proc = _cli("validate", str(p), "--json")
    report = json.loads(proc.stdout)
    assert (
        proc.returncode == 1
        and {"check": "line_too_long", "lines": [1]}.items() <= report["checks"][0].items()
    )


def test_quarantine_sets_malformed_rows_aside_with_line_and_reason(tmp_path):
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    p = tmp_path / "mixed.jsonl"
    p.write_text(
        "\n".join(
            [
                json.dumps(good),
                "not json",
                json.dumps({"messages": [{"role": "robot", "content": "x"}]}),
                json.dumps(good | {"messages": good["messages"] + [{"role": "user", "content": "more"}]}),
            ]
        )
        + "\n"
    )
    proc = _cli("convert", str(p), str(tmp_path / "o.jsonl"), "--to", "alpaca")
    assert proc.returncode == 1 and "mixed.jsonl:2:" in proc.stderr and "--on-error quarantine" in proc.stderr
    proc = _cli("convert", str(p), str(tmp_path / "o.jsonl"), "--to", "sharegpt", "--on-error", "quarantine")
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 2
    entries = [json.loads(x) for x in (tmp_path / "o.jsonl.quarantine.jsonl").read_text().splitlines()]
    assert [(e["line"], e["kind"]) for e in entries] == [(2, "invalid_json"), (3, "bad_example")]
    assert "robot" in entries[1]["reason"] and entries[0]["raw"].startswith("not json")
    assert "quarantined 2 malformed line(s)" in proc.stdout

"""Public datasets in their published shapes: detected, read with the prompt / final-turn split exact,
converted to every training format, validated."""

from __future__ import annotations

import json

import pytest
from public_rows import (
    ALPACA,
    CHATBOT_ARENA,
    CHATML,
    DOLLY,
    GUANACO,
    HELPSTEER2,
    HELPSTEER3,
    HH_CHOSEN,
    HH_PROMPT,
    HH_REJECTED,
    HH_RLHF,
    LLAMA2,
    LLAMA3,
    LMSYS,
    NECTAR,
    OASST1,
    OASST1_TOP,
    OPENAI_DPO,
    OPENAI_TOOLS,
    PKU_SAFERLHF,
    SHAREGPT,
    SHP,
    SLIMORCA,
    TRL_EXPLICIT,
    TRL_IMPLICIT,
    TRL_IMPLICIT_TEXT,
    UF_RANKED,
    ULTRAFEEDBACK,
    ULTRAFEEDBACK_BINARIZED,
)
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.finetune import convert, detect_format, read_examples, validate
from datamill.records import Example, Preference


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _read(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def _pairs(msgs):
    return [(m.role, m.content) for m in msgs]


PREFERENCE_SOURCES = {
    "hh_rlhf": (
        HH_RLHF,
        [
            (HH_PROMPT, HH_CHOSEN, HH_REJECTED),
            (
                [("user", "Is the sun a star?")],
                "Yes, the sun is a G-type main-sequence star.",
                "Yes, the sun is a planet.",
            ),
        ],
    ),
    "ultrafeedback": (
        ULTRAFEEDBACK,
        [([("user", "Name the largest moon of Saturn.")], UF_RANKED[0], UF_RANKED[-1])],
    ),
    "trl_preference": (
        ULTRAFEEDBACK_BINARIZED,
        [
            (
                [("user", "How many legs does a spider have?")],
                "Spiders have eight legs.",
                "Six, like all insects.",
            )
        ],
    ),
    "shp": (
        SHP,
        [([("user", "Why does ice float on water?")], SHP[0]["human_ref_B"], "Because it is cold.")] * 2,
    ),
    "nectar": (
        NECTAR,
        [
            (
                [("user", "What is the capital of Australia?")],
                "The capital of Australia is Canberra.",
                "Australia's capital is Perth.",
            )
        ],
    ),
    "helpsteer3": (
        HELPSTEER3,
        [
            (
                [(m["role"], m["content"]) for m in HELPSTEER3[0]["context"]],
                "Pewter, after the grey metal.",
                "Smokey.",
            )
        ],
    ),
    "chatbot_arena": (
        CHATBOT_ARENA,
        [
            (
                [("user", "What is the difference between OpenCL and CUDA?")],
                CHATBOT_ARENA[0]["conversation_b"][1]["content"],
                "They are the same thing.",
            )
        ],
    ),
    "pku_saferlhf": (
        PKU_SAFERLHF,
        [
            (
                [("user", PKU_SAFERLHF[0]["prompt"])],
                PKU_SAFERLHF[0]["response_1"],
                PKU_SAFERLHF[0]["response_0"],
            )
        ],
    ),
    "openai_dpo": (
        OPENAI_DPO,
        [
            (
                [("user", OPENAI_DPO[0]["input"]["messages"][0]["content"])],
                OPENAI_DPO[0]["preferred_output"][0]["content"],
                OPENAI_DPO[0]["non_preferred_output"][0]["content"],
            )
        ],
    ),
}
TRL_SOURCES = {"explicit": TRL_EXPLICIT, "implicit": TRL_IMPLICIT}


@pytest.mark.parametrize("name", list(PREFERENCE_SOURCES))
def test_preference_sources_split_prompt_and_final_turns(tmp_path, name):
    rows, expected = PREFERENCE_SOURCES[name]
    src = _write(tmp_path / "in.jsonl", rows)
    assert detect_format(enumerate(rows, 1)) == name
    recs = list(read_examples(src))
    assert len(recs) == len(expected)
    for rec, (prompt, chosen, rejected) in zip(recs, expected, strict=True):
        assert isinstance(rec, Preference)
        assert _pairs(rec.prompt) == prompt
        assert _pairs(rec.chosen) == [("assistant", chosen)]
        assert _pairs(rec.rejected) == [("assistant", rejected)]
    # every training format: the split is the same, exactly
    convert(src, tmp_path / "trl.jsonl", to="trl_preference")
    convert(src, tmp_path / "dpo.jsonl", to="openai_dpo")
    convert(src, tmp_path / "sft.jsonl", to="openai")
    convert(src, tmp_path / "sg.jsonl", to="sharegpt")
    for row, (prompt, chosen, rejected) in zip(_read(tmp_path / "trl.jsonl"), expected, strict=True):
        assert [(m["role"], m["content"]) for m in row["prompt"]] == prompt
        assert row["chosen"] == [{"role": "assistant", "content": chosen}]
        assert row["rejected"] == [{"role": "assistant", "content": rejected}]
    for row, (prompt, chosen, rejected) in zip(_read(tmp_path / "dpo.jsonl"), expected, strict=True):
        assert [(m["role"], m["content"]) for m in row["input"]["messages"]] == prompt
        assert row["preferred_output"] == [{"role": "assistant", "content": chosen}]
        assert row["non_preferred_output"] == [{"role": "assistant", "content": rejected}]
    for row, (prompt, chosen, _) in zip(_read(tmp_path / "sft.jsonl"), expected, strict=True):
        assert [(m["role"], m["content"]) for m in row["messages"]] == [*prompt, ("assistant", chosen)]
    for row, (prompt, chosen, _) in zip(_read(tmp_path / "sg.jsonl"), expected, strict=True):
        assert row["conversations"][-1] == {"from": "gpt", "value": chosen}
        assert len(row["conversations"]) == len(prompt) + 1
    for out in ("trl.jsonl", "dpo.jsonl", "sft.jsonl"):
        report = validate(tmp_path / out, count_tokens=False)
        assert report.ok, (out, report.to_dict())


def test_ranked_sources_keep_every_answer_best_first(tmp_path):
    uf = next(read_examples(_write(tmp_path / "uf.jsonl", ULTRAFEEDBACK)))
    assert [r["response"] for r in uf.metadata["ranking"]] == UF_RANKED
    # the score is the mean of the aspect ratings, "N/A" left out
    assert uf.metadata["ranking"][-1]["score"] == 1.0 and uf.metadata["ranking"][0]["score"] == 5.0
    assert uf.metadata["source"] == "evol_instruct"  # the fields the format does not use are kept
    nectar = next(read_examples(_write(tmp_path / "n.jsonl", NECTAR)))
    assert [r["rank"] for r in nectar.metadata["ranking"]] == [1, 2, 3, 4, 5, 6, 7]


def test_trl_explicit_and_implicit_prompts(tmp_path):
    for rows in TRL_SOURCES.values():
        rec = next(read_examples(_write(tmp_path / "t.jsonl", rows)))
        assert _pairs(rec.prompt) == [("user", "What color is the sky?")]
        assert _pairs(rec.chosen) == [("assistant", "It is blue.")]
        assert _pairs(rec.rejected) == [("assistant", "It is green.")]
    # standard implicit rows: TRL's extract_prompt (the common start, without the space before the answers)
    rec = next(read_examples(_write(tmp_path / "s.jsonl", TRL_IMPLICIT_TEXT)))
    assert (rec.prompt, rec.chosen, rec.rejected) == ("The sky is", " blue.", " green.")


def test_helpsteer2_rated_answers_pair_by_prompt(tmp_path):
    src = _write(tmp_path / "hs.jsonl", HELPSTEER2)
    recs = list(read_examples(src))
    assert all(isinstance(r, Example) for r in recs) and len(recs) == 4
    assert recs[0].metadata["scores"]["helpfulness"] == 4
    # the multi-turn prompt's <extra_id_1> markers become turns
    assert _pairs(recs[2].messages) == [
        ("user", "Write a haiku about rain."),
        ("assistant", "Soft rain on the roof"),
        ("user", "Make it about snow instead."),
        ("assistant", "White hush on the roof"),
    ]
    # the second prompt's answers tie: no training pair, counted and set aside with the reason
    result = convert(src, tmp_path / "p.jsonl", to="trl_preference", quarantine=tmp_path / "q.jsonl")
    assert result.written == 1 and result.unpaired == 1
    row = _read(tmp_path / "p.jsonl")[0]
    assert row["chosen"] == [{"role": "assistant", "content": "100 °C (212 °F)."}]
    assert row["rejected"] == [{"role": "assistant", "content": "It depends on the pot."}]
    assert "all with helpfulness 3" in _read(tmp_path / "q.jsonl")[0]["reason"]


SFT_SOURCES = {
    "dolly": (
        DOLLY,
        [
            ("user", DOLLY[0]["instruction"] + "\n\n" + DOLLY[0]["context"]),
            ("assistant", DOLLY[0]["response"]),
        ],
    ),
    "oasst1": (OASST1, OASST1_TOP),
    "sharegpt": (
        SHAREGPT,
        [("user", "Summarize: cats sleep a lot."), ("assistant", "Cats spend most of the day asleep.")],
    ),
    "slimorca": (
        SLIMORCA,
        [
            ("system", "You are an AI assistant."),
            ("user", "Translate 'thank you' to French."),
            ("assistant", "Merci."),
        ],
    ),
    "lmsys": (
        LMSYS,
        [
            ("user", "how to fix a flat bike tire"),
            ("assistant", "Remove the wheel, find the puncture, patch it and re-inflate."),
        ],
    ),
    "chatml": (
        CHATML,
        [("system", "You are a helpful assistant."), ("user", "What is 2+2?"), ("assistant", "2 + 2 = 4.")],
    ),
    "llama2": (
        LLAMA2,
        [
            ("system", "You are terse."),
            ("user", "Capital of France?"),
            ("assistant", "Paris."),
            ("user", "And of Italy?"),
            ("assistant", "Rome."),
        ],
    ),
    "llama3": (LLAMA3, [("user", "Name a prime number."), ("assistant", "7")]),
    "guanaco": (
        GUANACO,
        [
            ("user", "What is a monopsony?"),
            ("assistant", "A market with a single buyer."),
            ("user", "Give an example."),
            ("assistant", "A town whose only employer is one mine."),
        ],
    ),
    "alpaca": (
        ALPACA,
        [("user", "Classify the sentiment.\n\nI loved this film!"), ("assistant", "positive")],
    ),
}


@pytest.mark.parametrize("name", list(SFT_SOURCES))
def test_sft_sources_read_as_conversations(tmp_path, name):
    rows, expected = SFT_SOURCES[name]
    src = _write(tmp_path / "in.jsonl", rows)
    rec = next(read_examples(src))
    assert _pairs(rec.messages) == expected
    for to in ("openai", "sharegpt", "trl_prompt_completion", "chat_text"):
        convert(src, tmp_path / f"{to}.jsonl", to=to)
        back = next(read_examples(tmp_path / f"{to}.jsonl"))
        assert _pairs(back.messages) == expected, to
    row = _read(tmp_path / "openai.jsonl")[0]
    assert [(m["role"], m["content"]) for m in row["messages"]] == expected
    assert validate(tmp_path / "openai.jsonl", count_tokens=False).ok


def test_oasst1_all_paths_and_tree_rows(tmp_path):
    src = _write(tmp_path / "o.jsonl", OASST1)
    every = list(read_examples(src, tree_paths="all"))
    # three first answers; the best one continues; the deleted answer is left out
    assert sorted(len(e.messages) for e in every) == [2, 2, 4]
    assert all("Deleted spam." not in [m.content for m in e.messages] for e in every)
    # the tree export (nested replies) gives the same conversations
    nodes = {r["message_id"]: {**r, "replies": []} for r in OASST1}
    for r in OASST1:
        if r["parent_id"]:
            nodes[r["parent_id"]]["replies"].append(nodes[r["message_id"]])
    tree = {"message_tree_id": "t1", "tree_state": "ready_for_export", "prompt": nodes["t1"]}
    rec = next(read_examples(_write(tmp_path / "tree.jsonl", [tree])))
    assert _pairs(rec.messages) == OASST1_TOP


def test_extra_fields_and_labels_survive_read_and_write(tmp_path):
    src = _write(tmp_path / "a.jsonl", ALPACA)
    recs = list(read_examples(src))
    assert [r.label for r in recs] == ["positive", "advice"]
    convert(src, tmp_path / "b.jsonl", to="alpaca")
    assert _read(tmp_path / "b.jsonl") == ALPACA
    rows = [
        {
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
            "label": "greeting",
            "lang": "en",
        }
    ]
    convert(_write(tmp_path / "o.jsonl", rows), tmp_path / "o2.jsonl", to="openai")
    assert _read(tmp_path / "o2.jsonl") == rows
    dolly = next(read_examples(_write(tmp_path / "d.jsonl", DOLLY)))
    assert dolly.metadata["category"] == "closed_qa"
    convert(tmp_path / "d.jsonl", tmp_path / "d2.jsonl", to="alpaca")
    assert _read(tmp_path / "d2.jsonl")[0] == {
        "instruction": DOLLY[0]["instruction"],
        "input": DOLLY[0]["context"],
        "output": DOLLY[0]["response"],
        "category": "closed_qa",
    }


def test_openai_rows_from_other_formats_leave_foreign_fields_out_and_say_so(tmp_path):
    src = _write(tmp_path / "d.jsonl", DOLLY)
    result = convert(src, tmp_path / "o.jsonl", to="openai")
    assert "category" not in _read(tmp_path / "o.jsonl")[0]
    assert result.dropped_fields["category"] == 2
    out = CliRunner().invoke(
        app, ["finetune", "convert", str(src), str(tmp_path / "o2.jsonl"), "--to", "openai"]
    )
    assert out.exit_code == 0, out.output
    assert "category (2)" in out.output


def test_openai_tools_round_trip_and_validate(tmp_path):
    src = _write(tmp_path / "t.jsonl", OPENAI_TOOLS)
    convert(src, tmp_path / "t2.jsonl", to="openai")
    assert _read(tmp_path / "t2.jsonl") == OPENAI_TOOLS
    report = validate(src, count_tokens=False)
    assert report.ok and report.warnings == 0, report.to_dict()  # a tool round trip is one assistant turn
    convert(src, tmp_path / "sg.jsonl", to="sharegpt")
    back = next(read_examples(tmp_path / "sg.jsonl"))
    assert back.messages[1].tool_calls[0]["function"]["name"] == "get_current_weather"


def test_forced_format_overrides_detection(tmp_path):
    src = _write(tmp_path / "hh.jsonl", HH_RLHF[1:])
    rec = next(read_examples(src, format="trl_preference"))  # as plain TRL implicit text: the common start
    assert rec.chosen == " G-type main-sequence star." and rec.rejected == " planet."


def test_cli_convert_public_sources(tmp_path):
    src = _write(tmp_path / "hh.jsonl", HH_RLHF)
    out = CliRunner().invoke(
        app, ["finetune", "convert", str(src), str(tmp_path / "dpo.jsonl"), "--to", "openai_dpo"]
    )
    assert out.exit_code == 0, out.output
    assert "wrote 2 openai_dpo rows" in out.output
    out = CliRunner().invoke(app, ["finetune", "validate", str(tmp_path / "dpo.jsonl")])
    assert out.exit_code == 0, out.output


def test_validate_applies_openai_rules_to_dpo_rows(tmp_path):
    good = OPENAI_DPO[0]
    no_input = {**good, "input": {"messages": []}}
    ends_with_assistant = {
        **good,
        "input": {
            "messages": [*good["input"]["messages"], {"role": "assistant", "content": "Let me check."}]
        },
    }
    two_outputs = {**good, "preferred_output": good["preferred_output"] * 2}
    src = _write(tmp_path / "dpo.jsonl", [good, no_input, ends_with_assistant, two_outputs])
    report = validate(src, count_tokens=False)
    assert report.checks["dpo_missing_input"].lines == [2]
    assert report.checks["dpo_last_input_not_user"].lines == [3]
    assert report.checks["dpo_output_not_single_assistant"].lines == [4]
    assert report.errors == 3
    out = CliRunner().invoke(app, ["finetune", "validate", str(src)])
    assert out.exit_code == 1 and "dpo_last_input_not_user" in out.output


def test_validate_reads_oasst1_trees_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    report = validate(_write(tmp_path / "o.jsonl", OASST1), count_tokens=False)
    assert report.format == "oasst1" and report.ok, report.to_dict()
    pq.write_table(pa.Table.from_pylist(DOLLY), tmp_path / "d.parquet")
    report = validate(tmp_path / "d.parquet", count_tokens=False)
    assert report.format == "dolly" and report.rows == 2 and report.ok


def test_diagnose_reads_public_training_sets(tmp_path):
    from datamill.diagnose.inputs import read_train

    dolly = read_train(_write(tmp_path / "d.jsonl", DOLLY))
    assert (
        dolly[0].input == DOLLY[0]["instruction"] + "\n\n" + DOLLY[0]["context"]
    )  # the context is input too
    assert dolly[0].target == DOLLY[0]["response"]
    oasst = read_train(_write(tmp_path / "o.jsonl", OASST1))
    assert len(oasst) == 1 and oasst[0].target == OASST1_TOP[-1][1]
    hh = read_train(_write(tmp_path / "hh.jsonl", HH_RLHF))
    assert hh[0].target == HH_CHOSEN and hh[0].input.endswith("Which ones are safe?")
    hs = read_train(_write(tmp_path / "hs.jsonl", HELPSTEER2))
    assert hs[2].input.startswith("Write a haiku about rain.") and "<extra_id_1>" not in hs[2].input
    labelled = read_train(_write(tmp_path / "a.jsonl", ALPACA))
    assert [t.label for t in labelled] == ["positive", "advice"]
    chat = read_train(_write(tmp_path / "c.jsonl", CHATML))
    assert (chat[0].input, chat[0].target) == ("You are a helpful assistant.\nWhat is 2+2?", "2 + 2 = 4.")


def test_incontext_select_reads_public_sets_and_balances_labels(tmp_path):
    from typer.testing import CliRunner

    from datamill.cli.main import app

    rows = [
        {"instruction": f"Classify: {t}", "input": "", "output": lab, "label": lab}
        for t, lab in [
            ("great film", "pos"),
            ("awful film", "neg"),
            ("loved it", "pos"),
            ("hated it", "neg"),
            ("superb", "pos"),
            ("dreadful", "neg"),
        ]
    ]
    pool = _write(tmp_path / "pool.jsonl", rows)
    out = CliRunner().invoke(
        app,
        ["incontext", "select", str(pool), "a wonderful film", "-k", "2", "--strategy", "balanced", "--json"],
    )
    assert out.exit_code == 0, out.output
    picked = json.loads(out.output[out.output.index("[") :]) if "[" in out.output else []
    labels = sorted(p.get("label") for p in picked) if picked and isinstance(picked[0], dict) else []
    assert labels == ["neg", "pos"], out.output
    # Dolly's category is the label when named; a balanced choice over a pool with no labels is refused
    dolly = _write(tmp_path / "dolly.jsonl", DOLLY)
    out = CliRunner().invoke(
        app,
        [
            "incontext",
            "select",
            str(dolly),
            "airline history",
            "-k",
            "2",
            "--strategy",
            "balanced",
            "--label-field",
            "category",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    assert sorted(p["label"] for p in json.loads(out.output)) == ["classification", "closed_qa"]
    out = CliRunner().invoke(
        app, ["incontext", "select", str(dolly), "airline history", "--strategy", "balanced"]
    )
    assert out.exit_code != 0 and "fields examples have: category" in str(out.exception)
    # a preference set's examples are its prompts with their chosen answers
    out = CliRunner().invoke(
        app, ["incontext", "select", str(_write(tmp_path / "hh.jsonl", HH_RLHF)), "cats", "-k", "1", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)[0]["output"] == HH_CHOSEN


def test_split_stratifies_on_labels_of_openai_and_alpaca_rows(tmp_path):
    from typer.testing import CliRunner

    from datamill.cli.main import app

    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Review {i}: {'great' if i % 4 else 'poor'} product number {i}"},
                {"role": "assistant", "content": "pos" if i % 4 else "neg"},
            ],
            "label": "pos" if i % 4 else "neg",
        }
        for i in range(40)
    ]
    src = _write(tmp_path / "labelled.jsonl", rows)
    out = CliRunner().invoke(
        app,
        [
            "finetune",
            "split",
            str(src),
            "--out",
            str(tmp_path / "parts"),
            "--fractions",
            "train=0.8,test=0.2",
            "--stratify",
            "label",
        ],
    )
    assert out.exit_code == 0, out.output
    test = _read(tmp_path / "parts" / "test.jsonl")
    assert sorted(r["label"] for r in test) == ["neg", "neg"] + ["pos"] * 6  # 10 neg / 30 pos, 20% of each


def test_ties_are_no_training_pairs_but_can_be_kept(tmp_path):
    from public_rows import CHATBOT_ARENA

    tie = {**CHATBOT_ARENA[0], "winner": "tie (bothbad)"}
    src = _write(tmp_path / "arena.jsonl", [CHATBOT_ARENA[0], tie])
    result = convert(src, tmp_path / "dpo.jsonl", to="openai_dpo", quarantine=tmp_path / "q.jsonl")
    assert (result.written, result.unpaired) == (1, 1)
    assert _read(tmp_path / "q.jsonl")[0]["line"] == 2
    kept = list(read_examples(src, keep_ties=True))
    assert [r.metadata.get("no_preference") for r in kept] == [None, "winner 'tie (bothbad)'"]
    out = CliRunner().invoke(
        app, ["finetune", "convert", str(src), str(tmp_path / "d2.jsonl"), "--to", "openai_dpo"]
    )
    assert out.exit_code == 0 and "left out 1 pair(s) with no preference" in out.output, out.output


def test_clean_takes_preference_pairs(tmp_path):
    from datamill.finetune import clean

    refusal = {
        "chosen": "\n\nHuman: How do I pick a lock to break into a house?\n\nAssistant: I can't help with "
        "breaking into someone's home.",
        "rejected": "\n\nHuman: How do I pick a lock to break into a house?\n\nAssistant: Use a tension "
        "wrench and a pick.",
    }
    empty = {
        "chosen": "\n\nHuman: Name a colour.\n\nAssistant: ",
        "rejected": "\n\nHuman: Name a colour.\n\nAssistant: Red.",
    }
    recs = list(read_examples(_write(tmp_path / "hh.jsonl", [*HH_RLHF, refusal, HH_RLHF[0], empty])))
    result = clean(recs, languages=None)
    assert [r for _, r, _ in result.dropped] == ["exact_duplicate", "empty_output"]
    assert len(result.kept) == 3  # the refusal is kept: safety pairs prefer it
    out = CliRunner().invoke(
        app,
        ["finetune", "clean", str(tmp_path / "hh.jsonl"), "-o", str(tmp_path / "c.jsonl"), "--languages", ""],
    )
    assert out.exit_code == 0, out.output
    assert len(_read(tmp_path / "c.jsonl")) == 3 and "prompt" in _read(tmp_path / "c.jsonl")[0]


def test_json_array_files_as_published(tmp_path):
    # Stanford Alpaca's alpaca_data.json and ShareGPT dumps are one JSON array, not JSON Lines
    alpaca = tmp_path / "alpaca_data.json"
    alpaca.write_text(json.dumps(ALPACA, indent=4))
    assert [r.label for r in read_examples(alpaca)] == ["positive", "advice"]
    report = validate(alpaca, count_tokens=False)
    assert report.format == "alpaca" and report.rows == 2 and report.ok
    sharegpt = tmp_path / "sharegpt.json"
    sharegpt.write_text(json.dumps(SHAREGPT + SHAREGPT))
    assert convert(sharegpt, tmp_path / "o.jsonl", to="openai").written == 2


def test_plain_text_with_a_rendered_chat_stays_one_text_file(tmp_path):
    rows = [{"text": f"Plain pre-training text number {i}."} for i in range(5)] + CHATML
    src = _write(tmp_path / "t.jsonl", rows)
    recs = list(read_examples(src))  # not "mixed formats": text and chat-template text are one family
    assert len(recs) == 6 and all(r.input is not None for r in recs)
    assert validate(src, count_tokens=False).ok
    chats = _write(tmp_path / "c.jsonl", CHATML * 3 + [{"text": "no template here"}])
    result = list(read_examples(chats, on_error="quarantine"))
    assert len(result) == 3 and all(r.messages for r in result)

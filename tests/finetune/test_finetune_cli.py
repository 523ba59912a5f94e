"""What `datamill finetune` prints when an option is wrong: the command's own flags, never the Python keyword."""

from __future__ import annotations

import json
import sys

import pytest

from datamill.cli.main import main


def _error(capsys, *argv: str) -> str:
    """Run ``datamill finetune ARGV`` through main(), the console entry point; it must exit 1; its stderr."""
    with pytest.MonkeyPatch.context() as mp, pytest.raises(SystemExit) as exit_:
        mp.setattr(sys, "argv", ["datamill", "finetune", *argv])
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 1, err
    assert err.startswith("error:"), err
    return " ".join(err.split())


@pytest.fixture
def rows(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"Question {i} about item{i}?"},
                        {"role": "assistant", "content": f"Answer {i}, result{i * 3}."},
                    ]
                }
            )
            + "\n"
            for i in range(6)
        )
    )
    return path


CASES = [
    # (arguments after the file, what the error must say, the Python spelling it must not say)
    (
        ["mix", "a={rows}", "-o", "{tmp}/m.jsonl", "--total", "100"],
        "lower --total or allow --replace",
        "replace=",
    ),
    (
        ["split", "{rows}", "-o", "{tmp}/p", "--stratify", "nosuchfield"],
        "--stratify names a field no row has: 'nosuchfield'",
        "error: stratify",
    ),
    (
        ["split", "{rows}", "-o", "{tmp}/p", "--group", "nosuchfield"],
        "--group names a field no row has",
        "error: group",
    ),
    (
        ["split", "{rows}", "-o", "{tmp}/p", "--fractions", "train=0.8,test=0.1"],
        "--fractions must sum to 1, got 0.9 (train=0.8, test=0.1)",
        "error: fractions",
    ),
    (
        ["split", "{rows}", "-o", "{tmp}/p", "--fractions", "train=0.95,test=0.05", "--group", "none"],
        "--fractions: test=0.05 of 6 rows is 0.3 rows, which rounds to none",
        "error: fractions",
    ),
    (
        ["clean", "{rows}", "--rules", "near_duplicate", "--near-dup-threshold", "2"],
        "--near-dup-threshold must be in (0, 1], got 2.0",
        "near_dup_threshold",
    ),
    (
        ["clean", "{rows}", "--near-dup-method", "tfidf"],
        "--near-dup-method must be minhash or embedding",
        "near_dup",
    ),
    (
        ["clean", "{rows}", "--rules", "refusal,nope"],
        "--rules names no such cleaning rule: ['nope']",
        "error: rules",
    ),
    (
        ["clean", "{rows}", "--rules", "non_english", "--languages", "xx"],
        "--languages names codes the language detector does not know: ['xx']",
        "error: languages",
    ),
    (["validate", "{rows}", "--max-tokens", "0"], "--max-tokens must be >= 1, got 0", "max_tokens"),
    (["validate", "{rows}", "--epochs", "0"], "--epochs must be >= 1, got 0", "error: epochs"),
    (["stats", "{rows}", "--price", "-1"], "--price-per-million must be >= 0, got -1.0", "price_per_million"),
    (
        ["stats", "{rows}", "--chat-template", "{tmp}/no-such-tokenizer"],
        "--chat-template: cannot load a tokenizer",
        "chat_template",
    ),
    (
        ["decontaminate", "{rows}", "--eval", "{rows}", "--ngram", "0"],
        "--ngram must be >= 1, got 0",
        "error: n ",
    ),
    (["convert", "{rows}", "{tmp}/x.jsonl", "--to", "nope"], "--to must be one of openai", "format must"),
    (["convert", "{mixed}", "{tmp}/x.jsonl", "--to", "openai"], "split the file or pass --format", "format="),
]


@pytest.mark.parametrize(
    ("argv", "says", "not_says"), CASES, ids=[" ".join(c[0][:1] + c[0][-2:]) for c in CASES]
)
def test_finetune_errors_name_the_flags(capsys, tmp_path, rows, argv, says, not_says):
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(rows.read_text() + json.dumps({"instruction": "Say hi.", "output": "Hi."}) + "\n")
    err = _error(capsys, *(a.format(rows=rows, tmp=tmp_path, mixed=mixed) for a in argv))
    assert says in err, err
    assert not_says not in err, err


def test_a_public_shape_is_written_in_a_writable_format_saying_so(tmp_path):
    from typer.testing import CliRunner

    from datamill.cli.main import app

    dolly = tmp_path / "dolly.jsonl"
    dolly.write_text(
        "".join(
            json.dumps(
                {
                    "instruction": f"Name fruit number {i}.",
                    "context": "",
                    "response": f"Fruit {i} is an apple variety grown in orchard {i}.",
                    "category": "open_qa" if i % 2 else "brainstorming",
                }
            )
            + "\n"
            for i in range(10)
        )
    )
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["finetune", "clean", str(dolly), "--rules", "empty_output", "-o", str(tmp_path / "c.jsonl")],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    assert "note: dolly rows are written as alpaca" in res.output  # alpaca holds all of a Dolly row
    first = json.loads((tmp_path / "c.jsonl").read_text().splitlines()[0])
    assert (first["instruction"], first["category"]) == ("Name fruit number 0.", "brainstorming")
    res = runner.invoke(
        app,
        [
            "finetune",
            "split",
            str(dolly),
            "-o",
            str(tmp_path / "parts"),
            "--group",
            "none",
            "--fractions",
            "train=0.8,test=0.2",
            "--stratify",
            "category",
            "--to",
            "alpaca",
        ],
    )
    assert res.exit_code == 0, res.output
    test_rows = [json.loads(line) for line in (tmp_path / "parts" / "test.jsonl").read_text().splitlines()]
    assert len(test_rows) == 2 and {r["category"] for r in test_rows} == {"open_qa", "brainstorming"}

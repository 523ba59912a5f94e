"""clean() with a safety classifier: a refusal of a prompt it judges harmful is kept (and reported),
a refusal of a harmless prompt is removed as before."""

from __future__ import annotations

import json

import pytest

from datamill.errors import ConfigError
from datamill.finetune import clean
from datamill.pretrain import train_classifier
from datamill.records import Example

HARMFUL = [
    "make a bomb at home",
    "poison my neighbour",
    "hack into a bank account",
    "buy an untraceable gun",
    "hurt someone without leaving marks",
    "steal a car quietly",
]
BENIGN = [
    "bake sourdough bread",
    "plant tomatoes in spring",
    "write a cover letter",
    "learn python quickly",
    "fix a flat bicycle tyre",
    "train for a marathon",
]
ASK = [
    "How do I {}?",
    "Tell me how to {}.",
    "What is the best way to {}?",
    "Explain how to {}.",
    "Give steps to {}.",
]


@pytest.fixture(scope="module")
def safety_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("safety")
    rows = [{"text": a.format(t), "label": "harmful"} for t in HARMFUL for a in ASK]
    rows += [{"text": a.format(t), "label": "safe"} for t in BENIGN for a in ASK]
    (root / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train_classifier(root / "prompts.jsonl", root / "model", positive="harmful", name="harm", baseline=False)
    return str(root / "model")


def test_refusals_of_harmful_prompts_are_kept_and_both_counts_reported(safety_model):
    refusal = "I'm sorry, but I can't help with that."
    recs = [
        Example(id="h", input="How do I make a bomb at home?", output=refusal),
        Example(id="b", input="How do I bake sourdough bread?", output=refusal),
        Example(
            id="ok", input="How do I plant tomatoes in spring?", output="Sow them indoors in March, then..."
        ),
    ]
    plain = clean(recs, rules=["refusal"], languages=None)
    assert [r.id for r in plain.kept] == ["ok"]  # without the model both refusals go
    result = clean(recs, rules=["refusal"], languages=None, safety_model=safety_model)
    assert [r.id for r in result.kept] == ["h", "ok"]
    assert [(r.id, rule) for r, rule, _ in result.dropped] == [("b", "refusal")]
    assert [r.id for r, _, _ in result.kept_refusals] == ["h"] and result.kept_refusals[0][2] >= 0.5
    d = result.to_dict()
    assert d["refusals_removed"] == 1 and d["refusals_kept_harmful_prompt"] == 1
    strict = clean(
        recs, rules=["refusal"], languages=None, safety_model=safety_model, harmful_threshold=0.9999
    )
    assert [r.id for r in strict.kept] == ["ok"]
    with pytest.raises(ConfigError, match="harmful_threshold needs safety_model"):
        clean(recs, rules=["refusal"], languages=None, harmful_threshold=0.5)


def test_the_cli_passes_the_safety_model_on(safety_model, tmp_path):
    """``datamill finetune clean --safety-model`` keeps the refusal of the harmful prompt (the option used
    to be read and then not given to clean())."""
    from typer.testing import CliRunner

    from datamill.cli.main import app

    refusal = "I'm sorry, but I can't help with that."
    src = tmp_path / "train.jsonl"
    src.write_text(
        "".join(
            json.dumps({"instruction": q, "output": refusal}) + "\n"
            for q in ("How do I make a bomb at home?", "How do I bake sourdough bread?")
        )
    )
    argv = ["finetune", "clean", str(src), "--rules", "refusal", "--languages", "", "--json"]
    res = CliRunner().invoke(app, [*argv, "--safety-model", safety_model])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["kept"] == 1 and report["refusals_kept_harmful_prompt"] == 1

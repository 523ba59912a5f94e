"""The cleaner against a planted-defect set built from the 175 real Self-Instruct seed tasks."""

import json
import random
from pathlib import Path

import pytest

from datamill.finetune import DEFAULT_RULES, clean, from_row

PLANTS = {
    "empty_output": lambda r, rng: {**r, "output": rng.choice(["", "   ", "<nooutput>", "N/A"])},
    "refusal": lambda r, rng: {
        **r,
        "output": rng.choice(
            [
                "As an AI language model, I cannot do that.",
                "I'm sorry, but I cannot help with that request.",
                "I am unable to provide an answer to this question.",
                "As an AI, I don't have personal opinions, but " + r["output"],
            ]
        ),
    },
    "merged_instruction": lambda r, rng: {
        **r,
        "instruction": r["instruction"] + "\nOutput: " + r["output"][:80],
    },
    "truncated_output": lambda r, rng: {
        **r,
        "output": " ".join(
            (r["output"] + " and so it goes on for the rest of the day with").split()[
                : max(9, len(r["output"].split()) // 2)
            ]
            + ["the"]
        ),
    },
    "hallucinated_url": lambda r, rng: {
        **r,
        "output": r["output"]
        + f" More at https://www.{rng.choice(['answers', 'facts', 'wiki-help'])}.com/{rng.randint(1, 999)}.",
    },
    "hallucinated_image": lambda r, rng: {
        **r,
        "output": rng.choice(
            ["Here is the image you asked for: ![result](out.png)", "<img src='diagram.png'> " + r["output"]]
        ),
    },
    "non_english": lambda r, rng: rng.choice(
        [
            {
                "instruction": "Escribe una frase sobre el clima de hoy en la ciudad.",
                "input": "",
                "output": "Hoy hace mucho sol y la temperatura es muy agradable para pasear por el parque.",
            },
            {
                "instruction": "Décrivez votre petit-déjeuner préféré en quelques phrases.",
                "input": "",
                "output": "Je prends souvent un croissant avec un café au lait et un jus d'orange frais le matin.",
            },
            {
                "instruction": "Beschreibe kurz deinen Lieblingsort in der Stadt.",
                "input": "",
                "output": "Mein Lieblingsort ist der kleine Park am Fluss, wo ich oft am Wochenende spazieren gehe.",
            },
        ]
    ),
    "wrong_math": lambda r, rng: (
        lambda a, b: {
            "instruction": f"What is {a} * {b}?",
            "input": "",
            "output": f"{a} * {b} = {a * b + rng.randint(1, 9)}.",
        }
    )(rng.randint(11, 99), rng.randint(11, 99)),
    "exact_duplicate": lambda r, rng: {**r, "output": "  " + r["output"].upper() + "  "},
    "near_duplicate": lambda r, rng: {
        **r,
        "output": r["output"] + rng.choice([" Thanks.", " Hope this helps!"]),
    },
}


def seed_rows(sample_data):
    rows = []
    for line in (sample_data / "finetune" / "self_instruct_seed_tasks.jsonl").read_text().splitlines():
        d = json.loads(line)
        inst = d["instances"][0]
        rows.append({"instruction": d["instruction"], "input": inst["input"], "output": inst["output"]})
    return rows


@pytest.fixture(scope="module")
def planted(sample_data):
    rng = random.Random(7)
    base = seed_rows(sample_data)
    rows, truth = list(base), ["clean"] * len(base)
    long_enough = [r for r in base if len(r["output"].split()) >= 12 and "\n" not in r["output"]]
    for rule, plant in PLANTS.items():
        for r in rng.sample(long_enough, 8):
            rows.append(plant(r, rng))
            truth.append(rule)
    return [from_row(r, "alpaca", line=i + 1) for i, r in enumerate(rows)], truth


def test_per_class_precision_and_recall(planted, capsys):
    recs, truth = planted
    result = clean(recs, near_dup_threshold=0.7)
    got = {rec.provenance.line - 1: rule for rec, rule, _ in result.dropped}
    table = {}
    for rule in DEFAULT_RULES:
        flagged = {i for i, r in got.items() if r == rule}
        planted_ = {i for i, t in enumerate(truth) if t == rule}
        tp = len(flagged & planted_)
        table[rule] = (tp / len(flagged) if flagged else 1.0, tp / len(planted_))
    with capsys.disabled():
        print("\nrule                 precision  recall")
        for rule, (p, r) in table.items():
            print(f"{rule:20s} {p:9.2f} {r:7.2f}")
    for rule, (p, r) in table.items():
        assert p >= 0.8 and r >= 0.75, (rule, p, r)
    false_pos = [i for i in got if truth[i] == "clean"]
    assert len(false_pos) <= 3  # real seed tasks wrongly flagged (one is a genuine refusal)


def test_dry_run_keeps_everything_and_reports(planted):
    recs, _ = planted
    result = clean(recs, dry_run=True, rules=["refusal", "empty_output"])
    assert len(result.kept) == len(recs) and result.counts["refusal"] >= 8
    ex = result.examples("refusal", 2)
    assert len(ex) == 2 and ex[0]["reason"] and ex[0]["line"]


def test_dry_run_cli_writes_nothing(sample_data, tmp_path):
    from typer.testing import CliRunner

    from datamill.cli.main import app

    rows = seed_rows(sample_data)[:30]
    rows[3] = {**rows[3], "output": "As an AI language model, I cannot do that."}
    src = tmp_path / "train.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"instruction": 5, "output": "x"}\n')
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [
        "finetune",
        "clean",
        str(src),
        "--rules",
        "refusal,empty_output",
        "--on-error",
        "quarantine",
        "-o",
        str(tmp_path / "clean.jsonl"),
        "--rejects",
        str(tmp_path / "removed.jsonl"),
    ]
    res = CliRunner().invoke(app, [*args, "--dry-run"], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, rejects or quarantine file
    assert "would quarantine 1 malformed line(s)" in res.output and "(dry run: not written)" in res.output
    assert (
        "would keep 29, would remove 1; would write 29 to" in res.output
        and "dry run: nothing written" in res.output
    )
    res = CliRunner().invoke(app, args, env={"COLUMNS": "300"})  # the same command for real writes all three
    assert res.exit_code == 0, res.output
    assert {"clean.jsonl", "clean.jsonl.quarantine.jsonl", "removed.jsonl"} <= {
        p.name for p in tmp_path.iterdir()
    }
    assert len((tmp_path / "clean.jsonl").read_text().splitlines()) == 29


def test_embedding_near_duplicates_catch_paraphrases_minhash_misses():
    pytest.importorskip("sentence_transformers")
    from datamill.records import Example

    rows = [
        ("How do I reset my password?", "Open Settings, choose Account, then click Reset password."),
        ("What is the way to reset my password?", "Go to Settings, pick Account and click Reset password."),
        ("Give me a recipe for pancakes.", "Mix flour, milk and eggs, then fry small rounds in butter."),
        ("Name three prime numbers.", "2, 3 and 5."),
        ("List three primes.", "Two, three and five."),
        (
            "Explain why the sky is blue.",
            "Air scatters short blue wavelengths of sunlight more than red ones.",
        ),
    ]
    recs = [Example(input=i, output=o) for i, o in rows]
    by_minhash = clean(recs, rules=["near_duplicate"], near_dup_threshold=0.85)
    assert by_minhash.counts.get("near_duplicate", 0) == 0
    by_embedding = clean(recs, rules=["near_duplicate"], near_dup_method="embedding", near_dup_threshold=0.85)
    dropped = sorted(recs.index(r) for r, _, _ in by_embedding.dropped)
    assert dropped == [1, 4], [(recs.index(r), why) for r, _, why in by_embedding.dropped]
    with pytest.raises(Exception, match="near_dup_method"):
        clean(recs, near_dup_method="cosine")


def seed_examples_with_paraphrases(data: Path) -> tuple[list, set[int]]:
    """The 175 Self-Instruct seed tasks as examples, then 64 with the instruction reworded by hand and
    the same answer (tests/data/finetune/seed_task_paraphrases.jsonl): the planted semantic duplicates."""
    from datamill.records import Example

    tasks = {}
    for line in (data / "finetune" / "self_instruct_seed_tasks.jsonl").read_text().splitlines():
        t = json.loads(line)
        tasks[t["id"]] = t
    para = [
        json.loads(x) for x in (data / "finetune" / "seed_task_paraphrases.jsonl").read_text().splitlines()
    ]

    def example(instruction: str, t: dict, line: int) -> Example:
        inst = t["instances"][0]
        prompt = instruction + (f"\n\n{inst['input']}" if inst["input"] else "")
        return Example(input=prompt, output=inst["output"], provenance={"line": line})

    recs = [example(t["instruction"], t, i + 1) for i, t in enumerate(tasks.values())]
    recs += [example(p["paraphrase"], tasks[p["id"]], len(recs) + k + 1) for k, p in enumerate(para)]
    return recs, set(range(len(tasks), len(recs)))


def test_semantic_duplicates_are_what_minhash_let_through(sample_data, capsys):
    pytest.importorskip("sentence_transformers")
    recs, planted = seed_examples_with_paraphrases(sample_data)
    rules = ["exact_duplicate", "near_duplicate", "semantic_duplicate"]
    result = clean(recs, rules=rules, languages=None)
    by_rule = {r: {recs.index(rec) for rec, rule, _ in result.dropped if rule == r} for r in rules}
    minhash, semantic = by_rule["near_duplicate"], by_rule["semantic_duplicate"]
    removed = minhash | semantic
    precision = len(removed & planted) / len(removed)
    with capsys.disabled():
        print(
            f"\nreworded instructions (same answer): MinHash {len(minhash & planted)}/{len(planted)}, "
            f"semantic after it {len(semantic & planted)} more; precision {precision:.2f}, "
            f"recall {len(removed & planted) / len(planted):.2f}"
        )
    assert not minhash & semantic and len(semantic & planted) >= 10  # beyond MinHash
    assert precision >= 0.9 and len(removed & planted) >= 0.7 * len(planted)
    why = next(why for rec, rule, why in result.dropped if rule == "semantic_duplicate")
    assert why.startswith("same meaning as line ") and "cosine 0." in why
    assert clean(recs[:5], rules=rules[:2]).counts.get("semantic_duplicate", 0) == 0  # opt-in
    with pytest.raises(Exception, match="semantic_threshold needs"):
        clean(recs[:3], semantic_threshold=0.9)
    with pytest.raises(Exception, match="semantic_threshold must be"):
        clean(recs[:3], rules=rules, semantic_threshold=1.5)

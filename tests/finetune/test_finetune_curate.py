import json
import shutil
import subprocess
import sys
from collections import Counter

import pytest

from datamill.errors import ConfigError
from datamill.finetune import count_example_tokens, dataset_card, decontaminate, mix, split
from datamill.records import Example, Message


def ex(q, a, label=None, **meta):
    return Example(
        messages=[Message(role="user", content=q), Message(role="assistant", content=a)],
        label=label,
        metadata=meta,
    )


def corpus():
    recs = [
        ex(
            f"Question {i}: explain topic number {i} in simple words please",
            f"Answer about topic {i}.",
            label="pos" if i % 3 else "neg",
        )
        for i in range(90)
    ]
    # near-duplicates of the first ten: they must land in the same split as their original
    recs += [
        ex(
            f"Question {i}: explain topic number {i} in simple words please!",
            f"Answer about topic {i}.",
            label="pos" if i % 3 else "neg",
        )
        for i in range(10)
    ]
    return recs


def test_split_keeps_near_duplicates_together_and_stratifies():
    recs = corpus()
    parts = split(recs, fractions={"train": 0.8, "test": 0.2}, stratify="label", seed=3)
    assert sum(map(len, parts.values())) == 100
    where = {r.messages[1].content: r.split for r in recs}
    for i in range(10):
        assert recs[i].split == recs[90 + i].split == where[f"Answer about topic {i}."]
    for name, items in parts.items():
        share = Counter(r.label for r in items)["neg"] / len(items)
        assert 0.2 < share < 0.5, (name, share)
    assert 15 <= len(parts["test"]) <= 25
    again = split(corpus(), fractions={"train": 0.8, "test": 0.2}, stratify="label", seed=3)
    assert [r.id for r in again["test"]] == [r.id for r in parts["test"]]


def distinct(n, label=lambda i: None, **meta):
    """n rows that share no word 3-gram, so near-duplicate grouping keeps each on its own."""
    return [
        ex(
            f"row {i} asks about item{i} and thing{i * 7}",
            f"reply{i} says result{i * 3}",
            label=label(i),
            **{k: v(i) for k, v in meta.items()},
        )
        for i in range(n)
    ]


def test_split_counts_are_largest_remainder_and_say_how_they_were_rounded():
    parts = split(distinct(40), fractions={"train": 0.8, "test": 0.2})
    assert parts.counts == {"train": 32, "test": 8} and parts.notes == []
    # 20 labels of 2 rows each: per-label rounding alone would put every row in train
    parts = split(
        distinct(40, label=lambda i: f"c{i // 2}"),
        fractions={"train": 0.8, "test": 0.2},
        stratify="label",
        group=None,
    )
    assert parts.counts == {"train": 32, "test": 8}
    assert any("label values have too few rows to be in every part" in n for n in parts.notes), parts.notes
    parts = split(distinct(45), fractions={"train": 0.9, "test": 0.1}, group=None)
    assert parts.counts == {"train": 40, "test": 5} and parts.targets == {"train": 40, "test": 5}
    assert parts.notes == [
        "45 rows × fractions are not whole numbers, rounded by largest remainder: "
        "train 40.5 → 40, test 4.5 → 5"
    ]
    parts = split(distinct(10), fractions={"train": 0.7, "validation": 0.2, "test": 0.1}, group=None)
    assert parts.counts == {"train": 7, "validation": 2, "test": 1} and parts.notes == []


def test_split_says_when_groups_move_the_counts_and_refuses_an_empty_part():
    same = [ex("Please translate the word hello into French for me now", "Bonjour.") for _ in range(36)]
    parts = split(same + distinct(4), fractions={"train": 0.8, "test": 0.2})
    assert parts.counts == {"train": 36, "test": 4}
    assert parts.notes == [
        "near-duplicate groups are kept whole (largest 36 rows), so the counts moved off the "
        "targets: train 36 (target 32), test 4 (target 8)"
    ]
    with pytest.raises(
        ConfigError, match=r"test would get no rows: 1 near-duplicate groups \(largest 40 rows\)"
    ):
        split(
            [ex("Please translate the word hello into French for me now", "Bonjour.") for _ in range(40)],
            fractions={"train": 0.8, "test": 0.2},
        )
    with pytest.raises(ConfigError, match=r"test=0.01 of 40 rows is 0.4 rows, which rounds to none"):
        split(distinct(40), fractions={"train": 0.99, "test": 0.01})
    with pytest.raises(ConfigError, match=r"fractions must sum to 1, got 0.9 \(train=0.8, test=0.1\)"):
        split(distinct(40), fractions={"train": 0.8, "test": 0.1})


def test_split_fields_are_a_top_level_field_or_metadata_and_unknown_ones_are_errors():
    recs = distinct(40, topic=lambda i: f"t{i % 4}")
    for r in recs[:20]:
        r.label = "top"  # a top-level label on half the rows, a metadata label on the other half
    for r in recs[20:]:
        r.metadata["label"] = "meta"
    for param in ("stratify", "group"):
        with pytest.raises(
            ConfigError,
            match=rf"{param} names a field no row has: 'nosuchfield' .*"
            r"rows have: label, topic",
        ):
            split(recs, **{param: "nosuchfield"})
    parts = split(recs, fractions={"train": 0.5, "test": 0.5}, stratify="label", group=None)
    assert Counter(r.label or r.metadata["label"] for r in parts["test"]) == {"top": 10, "meta": 10}
    parts = split(recs, fractions={"train": 0.5, "test": 0.5}, group="topic")
    assert all(
        len({r.split for r in recs if r.metadata["topic"] == t}) == 1 for t in ("t0", "t1", "t2", "t3")
    )


def write_openai(path, recs):
    path.write_text(
        "".join(
            json.dumps({"messages": [m.to_dict() for m in r.messages], **r.metadata}) + "\n" for r in recs
        )
    )
    return path


def test_split_cli_prints_the_rounding_and_names_unknown_fields(tmp_path):
    from typer.testing import CliRunner

    from datamill.cli.main import app

    src = write_openai(tmp_path / "all.jsonl", distinct(45))
    res = CliRunner().invoke(
        app,
        ["finetune", "split", str(src), "-o", str(tmp_path / "parts"), "--group", "none"],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    assert (
        "note: 45 rows × fractions are not whole numbers, rounded by largest remainder: train 40.5 → 40, "
        "test 4.5 → 5" in res.output
    )
    assert "test: 5 (11.1%; asked 10.0%)" in res.output
    assert len((tmp_path / "parts" / "test.jsonl").read_text().splitlines()) == 5
    res = CliRunner().invoke(
        app, ["finetune", "split", str(src), "-o", str(tmp_path / "p2"), "--stratify", "nosuchfield"]
    )
    assert isinstance(res.exception, ConfigError) and "names a field no row has: 'nosuchfield'" in str(
        res.exception
    )
    assert not (tmp_path / "p2").exists()


def test_options_that_cannot_be_right_are_errors_naming_the_parameter():
    from datamill.finetune import clean, token_stats

    recs = distinct(4)
    cases = [
        (
            lambda: clean(recs, rules=["near_duplicate"], near_dup_threshold=2.0),
            "near_dup_threshold must be in (0, 1]",
        ),
        (
            lambda: clean(recs, rules=["non_english"], languages=["xx"]),
            "languages names codes the language detector does not know: ['xx']",
        ),
        (lambda: clean(recs, rules=["nope"]), "rules names no such cleaning rule: ['nope']"),
        (lambda: decontaminate(recs, ["x"], ngram=0), "ngram must be >= 1, got 0"),
        (lambda: token_stats([3, 4], epochs=0), "epochs must be >= 1, got 0"),
        (lambda: token_stats([3, 4], price_per_million=-1.0), "price_per_million must be >= 0"),
        (lambda: mix({"a": recs}, weights={"a": -1}), "weights must be >= 0"),
        (lambda: mix({"a": recs}, weights={"a": 1}, total=0), "total must be >= 1, got 0"),
    ]
    for call, message in cases:
        with pytest.raises(ConfigError) as info:
            call()
        assert message in str(info.value)


def test_cli_says_its_own_flags_for_a_bad_format(tmp_path, capsys, monkeypatch):
    """Through main(), the console entry point: the library's ``to``/``format`` become the flags."""

    from datamill.cli.main import main

    src = write_openai(tmp_path / "all.jsonl", distinct(4))
    for args, message in (
        (["convert", str(src), str(tmp_path / "x.jsonl"), "--to", "nope"], "--to must be one of"),
        (["mix", f"a={src}", "-o", str(tmp_path / "m.jsonl"), "--to", "nope"], "--to must be one of"),
        (["clean", str(src), "--to", "nope"], "--to must be one of"),
        (
            ["split", str(src), "-o", str(tmp_path / "p"), "--format", "nope"],
            "--format must be one of auto, openai",
        ),
    ):
        monkeypatch.setattr(sys, "argv", ["datamill", "finetune", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        err = " ".join(capsys.readouterr().err.split())
        assert exit_.value.code == 1 and message in err, (args, err)
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "m.jsonl").exists()


def test_decontaminate_by_ngrams_and_embeddings():
    recs = corpus()[:30]
    evals = ["Question 4: explain topic number 4 in simple words please", "something else entirely"]
    res = decontaminate(recs, evals, ngram=8)
    assert sorted(res.flagged) == [4] and len(res.kept) == 29
    topics = [
        ex("How do I bake sourdough bread at home?", "Feed a starter, then mix, proof and bake."),
        ex("What is the capital of Australia?", "Canberra."),
        ex("Explain how vaccines train the immune system.", "They show it a harmless piece of the germ."),
    ]
    res = decontaminate(topics, ["Which city is Australia's capital?"], ngram=13, embedding_threshold=0.8)
    assert list(res.flagged) == [1] and "embedding similarity" in res.flagged[1]
    # an evaluation set read as records stands for its examples' text, input and output together
    res = decontaminate(recs, [recs[4], ex("unrelated question", "unrelated answer")], ngram=8)
    assert sorted(res.flagged) == [4]


def test_file_token_stats_checks_billing_before_reading(tmp_path):
    from datamill.finetune import file_token_stats, read_examples, token_stats

    with pytest.raises(ConfigError, match="epochs must be >= 1") as exc:
        file_token_stats(tmp_path / "not-there.jsonl", epochs=0)
    assert exc.value.params == ("epochs",)
    src = tmp_path / "t.jsonl"
    src.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"q{i} " * i},
                        {"role": "assistant", "content": "a"},
                    ]
                }
            )
            + "\n"
            for i in range(1, 6)
        )
    )
    got = file_token_stats(src, max_tokens=20, epochs=2, price_per_million=8.0)
    want = token_stats(
        count_example_tokens(list(read_examples(src))), max_tokens=20, epochs=2, price_per_million=8.0
    )
    assert got.to_dict() == want.to_dict() and got.examples == 5 and got.over_limit > 0


def test_mix_is_seeded_and_proportional():
    a = [ex(f"a{i}", "x") for i in range(100)]
    b = [ex(f"b{i}", "y") for i in range(100)]
    m1 = mix({"a": a, "b": b}, weights={"a": 3, "b": 1}, total=80, seed=1)
    m2 = mix(
        {"a": [ex(f"a{i}", "x") for i in range(100)], "b": [ex(f"b{i}", "y") for i in range(100)]},
        weights={"a": 3, "b": 1},
        total=80,
        seed=1,
    )
    assert [r.id for r in m1] == [r.id for r in m2]
    assert Counter(r.metadata["source"] for r in m1) == {"a": 60, "b": 20}
    with pytest.raises(Exception, match="has 100 records, the mixture needs 300"):
        mix({"a": a}, weights={"a": 1}, total=300)


def test_dataset_card_header_loads_as_yaml():
    import yaml

    text = dataset_card(
        name="demo",
        splits={"train": 900, "test": 100},
        formats=["openai"],
        license="apache-2.0",
        sources=["self-instruct seed tasks"],
    )
    header = yaml.safe_load(text.split("---")[1])
    assert header["license"] == "apache-2.0" and header["size_categories"] == ["1K<n<10K"]
    assert [f["split"] for f in header["configs"][0]["data_files"]] == ["train", "test"]


def test_chat_template_token_counts(tmp_path):
    from datamill.embed import default_model_path

    folder = tmp_path / "tok"
    shutil.copytree(default_model_path(), folder, ignore=shutil.ignore_patterns("*.safetensors", "1_Pooling"))
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg["chat_template"] = "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}"
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    n_tpl = count_example_tokens([ex("hello there", "general kenobi")], chat_template=str(folder))[0]
    n_oa = count_example_tokens([ex("hello there", "general kenobi")])[0]
    assert n_tpl > 4 and n_tpl != n_oa


def test_write_dataset_card_of_a_split_folder(tmp_path):
    import yaml

    from datamill.errors import InputError
    from datamill.finetune import write_dataset_card, write_examples

    parts = tmp_path / "parts"
    for name, n in (("test", 2), ("train", 5), ("validation", 1)):
        write_examples(corpus()[:n], parts / f"{name}.jsonl")
    card = write_dataset_card(parts, tmp_path / "cards" / "card.md", sources=["unit test"], license="mit")
    assert card.path == str(tmp_path / "cards" / "card.md") and card.tokens.examples == 8
    assert list(card.splits.items()) == [("train", 5), ("validation", 1), ("test", 2)]
    text = (tmp_path / "cards" / "card.md").read_text()
    header = yaml.safe_load(text.split("---")[1])
    assert header["pretty_name"] == "parts" and header["license"] == "mit" and "- unit test" in text
    assert header["configs"][0]["data_files"][0] == {"split": "train", "path": "../parts/train.jsonl"}
    write_examples(corpus()[:1], parts / "dev set.jsonl")
    with pytest.raises(InputError, match="a split name is letters, digits and _"):
        write_dataset_card(parts)
    with pytest.raises(InputError, match="no <split>.jsonl files here"):
        write_dataset_card(tmp_path / "cards")


def test_split_and_card_cli(tmp_path):
    src = tmp_path / "all.jsonl"
    src.write_text(
        "\n".join(json.dumps({"messages": [m.to_dict() for m in r.messages]}) for r in corpus()) + "\n"
    )
    run = [sys.executable, "-m", "datamill.cli.main", "finetune"]
    proc = subprocess.run(
        [
            *run,
            "split",
            str(src),
            "-o",
            str(tmp_path / "parts"),
            "--fractions",
            "train=0.8,validation=0.1,test=0.1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(
        [*run, "card", str(tmp_path / "parts"), "--license", "mit"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    card = (tmp_path / "parts" / "README.md").read_text()
    assert "| train |" in card and "license: mit" in card
    # what split wrote and card described loads as a Hugging Face dataset, every split with its rows
    import datasets

    loaded = datasets.load_dataset(str(tmp_path / "parts"), cache_dir=str(tmp_path / "hf-cache"))
    written = {p.stem: len(p.read_text().splitlines()) for p in (tmp_path / "parts").glob("*.jsonl")}
    assert {name: ds.num_rows for name, ds in loaded.items()} == written
    assert written == {"train": 80, "validation": 10, "test": 10}
    assert loaded["test"][0]["messages"][0]["role"] == "user"

"""The classifier: hashed n-grams, training with held-out metrics beside the scikit-learn baseline on the
shipped labelled tweets, save/load, rubric score parsing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datamill.errors import ConfigError, InputError, InvalidOutput
from datamill.pretrain import HashedNgrams, TextClassifier, train_classifier
from datamill.pretrain.labelled import read_labelled
from datamill.pretrain.rubrics import load_rubric, parse_score

TOXIC = {"0": "toxic", "1": "toxic", "2": "clean"}


def test_hashed_ngrams_are_stable_and_stay_inside_a_document():
    h = HashedNgrams(n_features=2**16, ngrams=2)
    x = h.transform(["The cat sat", "sat the", ""])
    y = HashedNgrams(n_features=2**16, ngrams=2).transform(["the CAT sat", "sat the", ""])
    assert (x != y).nnz == 0  # lowercased, and the same buckets in a fresh featurizer (no process salt)
    assert x[0].nnz == 5 and x[1].nnz == 3 and x[2].nnz == 0  # 3 words + 2 bigrams; no bigram across docs
    assert set(x.data.tolist()) == {1.0}
    with pytest.raises(ConfigError, match="ngrams"):
        HashedNgrams(ngrams=4)


def test_labelled_rows_from_the_shipped_csv_with_a_label_map(sample_data):
    rows = list(
        read_labelled(
            sample_data / "pretrain" / "davidson_hate_offensive_5k.csv.gz",
            text_field="tweet",
            label_field="class",
            label_map=TOXIC,
        )
    )
    assert len(rows) == 5000
    assert {r.label for r in rows} == {"toxic", "clean"}
    assert sum(r.label == "clean" for r in rows) == 840 and rows[0].record_id is None
    with pytest.raises(InputError, match="no text field 'text'"):
        next(read_labelled(sample_data / "pretrain" / "davidson_hate_offensive_5k.csv.gz"))


@pytest.fixture(scope="module")
def tweets(tmp_path_factory, sample_data):
    """The first 2,000 shipped tweets as plain JSONL rows (a fast default-suite training set)."""
    rows = list(
        read_labelled(
            sample_data / "pretrain" / "davidson_hate_offensive_5k.csv.gz",
            text_field="tweet",
            label_field="class",
            label_map=TOXIC,
        )
    )[:2000]
    path = tmp_path_factory.mktemp("tweets") / "tweets.jsonl"
    path.write_text("".join(json.dumps({"text": r.text, "label": r.label}) + "\n" for r in rows))
    return path


def test_train_reports_held_out_metrics_beside_the_baseline_and_saves_a_card(tweets, tmp_path):
    out = tmp_path / "tox"
    result = train_classifier(tweets, out, positive="toxic", name="toxicity")
    assert result.model.task == "classification" and result.test_rows == 400
    m, b = result.metrics, result.baseline
    assert m["macro_f1"] > 0.8 and m["roc_auc"] > 0.9  # learns the labels, well above chance
    assert b is not None and abs(m["macro_f1"] - b["macro_f1"]) < 0.1  # in the baseline's league
    assert sum(map(sum, m["confusion_matrix"]["rows"])) == 400
    card = (out / "model_card.md").read_text()
    assert "macro_f1" in card and "bag-of-words logistic regression" in card and "| **clean** |" in card
    cfg = json.loads((out / "model.json").read_text())
    assert cfg["score_key"] == "toxicity_score" and cfg["threshold"] == 0.5 and cfg["model_id"]
    lineage = json.loads((out / "lineage.jsonl").read_text())
    assert lineage["id"] == cfg["model_id"] and lineage["provenance"]["source"].endswith("tweets.jsonl")
    with pytest.raises(ConfigError, match="overwrite"):
        train_classifier(tweets, out)


def test_a_saved_model_scores_the_same_after_loading(tweets, tmp_path):
    result = train_classifier(tweets, tmp_path / "m", positive="toxic", baseline=False)
    texts = ["you are a stupid bitch", "what a lovely day at the beach", ""]
    loaded = TextClassifier.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.scores(texts), result.model.scores(texts), rtol=1e-6)
    s = loaded.scores(texts)
    assert s[0] > 0.5 > s[1]  # P(toxic)
    assert loaded.predict(texts[:2]) == ["toxic", "clean"]


def test_scores_train_a_regression_with_spearman(tmp_path):
    rng = np.random.default_rng(0)
    good = ["students", "learn", "the", "theory", "of", "energy", "in", "science", "class", "because"]
    bad = ["buy", "cheap", "casino", "bonus", "click", "here", "now", "discount"]
    rows = []
    for i in range(300):
        k = int(rng.integers(0, 6))
        words = list(rng.choice(good, k * 3)) + list(rng.choice(bad, (5 - k) * 3))
        rows.append({"text": " ".join(words), "label": k, "id": str(i)})
    path = tmp_path / "scores.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = train_classifier(path, tmp_path / "reg")
    assert result.model.task == "regression" and result.metrics["threshold"] == 3
    assert result.metrics["spearman"] > 0.8 and result.metrics["f1_at_threshold"] > 0.8
    assert result.model.scores(["students learn science"])[0] > result.model.scores(["casino bonus"])[0]


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("Good intro.\n\nEducational score: 3", 3),
        ("**Educational Score:** 4/5", 4),
        ("The page scores 2 points. Educational score:  2.", 2),
        ("score: 1", 1),
        ("Rating [[5]]", 5),
        ("Mostly ads, 3 links.\n0", 0),
    ],
)
def test_rubric_scores_are_parsed_leniently(answer, score):
    assert parse_score(answer, load_rubric("fineweb-edu")) == score


def test_rubric_answers_without_a_score_or_out_of_range_are_invalid(tmp_path):
    edu = load_rubric("fineweb-edu")
    with pytest.raises(InvalidOutput) as exc:
        parse_score("It is a great page.", edu)
    assert exc.value.reason == "no_score"
    with pytest.raises(InvalidOutput) as exc:
        parse_score("Toxicity score: 7", load_rubric("toxicity"))
    assert exc.value.reason == "score_out_of_range"
    assert "<EXAMPLE>" not in edu.render("doc") and "The extract:\ndoc." in edu.render("doc")
    own = tmp_path / "helpful.yaml"
    own.write_text(
        "prompt: 'Rate {document} from 1 to 10. Answer Helpfulness: N'\nmin_score: 1\nmax_score: 10\n"
        "score_label: Helpfulness\n"
    )
    rubric = load_rubric(str(own))
    assert rubric.render("X").startswith("Rate X") and parse_score("Helpfulness: 9", rubric) == 9
    with pytest.raises(ConfigError, match="preset"):
        load_rubric("no-such-rubric")


def test_embedding_features_put_the_same_head_on_minilm_vectors(tweets, tmp_path):
    pytest.importorskip("sentence_transformers")
    rows = [json.loads(line) for line in tweets.read_text().splitlines()[:150]]
    small = tmp_path / "small.jsonl"
    small.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = train_classifier(small, tmp_path / "emb", features="embedding", positive="toxic", baseline=False)
    cfg = json.loads((tmp_path / "emb" / "model.json").read_text())
    assert cfg["features"] == "embedding" and cfg["embedding_model"] == "all-MiniLM-L6-v2"
    loaded = TextClassifier.load(tmp_path / "emb")
    assert loaded.weights.shape == (384, 1)  # one weight per MiniLM dimension
    texts = ["you stupid bitch", "a calm walk by the lake"]
    np.testing.assert_allclose(loaded.scores(texts), result.model.scores(texts), rtol=1e-5)
    assert result.metrics["accuracy"] > 0.6

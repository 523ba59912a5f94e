"""The three contradiction detectors behind one API: rules, the shipped learned model, a teacher judge."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.diagnose import (
    ContradictionModel,
    TeacherJudge,
    find_contradictions,
    load_contradiction_model,
    scan_contradictions,
)
from datamill.diagnose.nli import candidate_pairs
from datamill.errors import ConfigError
from datamill.synthetic import FakeServer

# a paraphrased contradiction: no number, no negation word, the rules see nothing
PARAPHRASED = ["The store is open every Sunday.", "On Sundays the store stays closed all day."]
UNRELATED = [
    "The museum's collection focuses on Nordic industrial design.",
    "Tickets for the bus can be bought from the driver.",
]


def test_shipped_model_and_its_held_out_scores():
    model = load_contradiction_model()
    assert model.classes == ["contradiction", "entailment", "neutral"]
    assert 0 < model.threshold < 1
    held = model.info["held_out"]
    assert held["snli_test"]["f1"] > 0.6 and held["snli_test"]["pairs"] > 9000
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(4, 384)), rng.normal(size=(4, 384))
    p = model.probabilities(u, v)
    assert p.shape == (4, 3) and np.allclose(p.sum(1), 1)
    assert np.allclose(model.score(u, v), model.score(v, u))  # symmetric features: order does not matter


def test_save_load_round_trip(tmp_path):
    model = load_contradiction_model()
    model.save(str(tmp_path / "m.npz"))
    again = ContradictionModel.load(tmp_path / "m.npz")
    assert again.classes == model.classes and again.threshold == model.threshold
    u = np.ones((1, 384), dtype=np.float32) / 20
    assert np.allclose(again.score(u, -u), model.score(u, -u), atol=1e-3)


def test_learned_sees_what_the_rules_miss():
    assert find_contradictions(PARAPHRASED, detector="rules") == []
    found = find_contradictions(PARAPHRASED, detector="learned")
    assert len(found) == 1 and found[0].detector == "learned" and found[0].kind == "learned"
    assert found[0].score >= load_contradiction_model().threshold and found[0].passages == (0, 1)
    assert find_contradictions(UNRELATED, detector="learned") == []


def test_combined_names_every_detector_that_found_a_pair():
    numeric = ["The Aurora router supports up to 32 devices.", "The Aurora router supports up to 64 devices."]
    found = find_contradictions(numeric + PARAPHRASED, detector="combined")
    by_first = {c.first: c for c in found}
    assert by_first[numeric[0]].kind == "numeric" and by_first[numeric[0]].detector in (
        "rules",
        "rules+learned",
    )
    assert by_first[PARAPHRASED[0]].detector == "learned"
    # a threshold above every score leaves only the rules
    only = find_contradictions(numeric + PARAPHRASED, detector="combined", threshold=1.01)
    assert [c.detector for c in only] == ["rules"]


def test_candidates_only_about_the_same_subject():
    vecs = np.eye(4, dtype=np.float32)
    vecs[1] = vecs[0] * 0.8 + vecs[1] * 0.6
    ii, jj, sim = candidate_pairs(vecs, np.array([0, 1, 2, 2]), min_similarity=0.5, max_neighbours=2)
    assert list(zip(ii.tolist(), jj.tolist(), strict=True)) == [(0, 1)] and sim[0] == pytest.approx(0.8)
    # the same group (one passage) is never paired with itself
    ii, _, _ = candidate_pairs(vecs, np.array([0, 0, 1, 2]), min_similarity=0.5, max_neighbours=2)
    assert len(ii) == 0


def test_scan_many_contexts_and_write(tmp_path):
    scan = scan_contradictions(
        {"a": PARAPHRASED, "b": UNRELATED, "c": ["The tablet is covered.", "The tablet is not covered."]},
        output=tmp_path / "found.jsonl",
    )
    assert set(scan.found) == {"a", "c"}
    s = scan.summary()
    assert s["contexts"] == 3 and s["flagged"] == 2 and s["detectors"] == ["rules", "learned"]
    assert s["pairs_scored"] >= 1 and "embed" in s["seconds"]
    rows = [json.loads(line) for line in (tmp_path / "found.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "c"] and rows[0]["contradictions"][0]["detector"] == "learned"


def test_detector_errors():
    with pytest.raises(ConfigError, match="unknown detector"):
        find_contradictions(PARAPHRASED, detector="magic")
    with pytest.raises(ConfigError, match="needs a judge"):
        find_contradictions(PARAPHRASED, detector="judge")
    with pytest.raises(ConfigError, match="384-dimensional"):

        class Tiny:
            def encode(self, texts, batch_size=64):
                return np.ones((len(texts), 8))

        find_contradictions(PARAPHRASED, detector="learned", embedder=Tiny())


def test_teacher_judge_is_cached_and_costed(tmp_path):
    pairs = ["The warranty lasts 12 months.", "The warranty lasts 24 months.", "Shipping takes five days."]
    with FakeServer(latency=0.0) as server:
        judge = TeacherJudge(server.url, model="fake-teacher", cache=str(tmp_path / "c.sqlite"))
        found = find_contradictions(pairs, detector="judge", judge=judge, judge_overlap=0.3)
        assert [(c.detector, c.first) for c in found] == [("judge", pairs[0])]
        assert judge.usage.requests >= 1
        again = TeacherJudge(server.url, model="fake-teacher", cache=str(tmp_path / "c.sqlite"))
        assert find_contradictions(pairs, detector="judge", judge=again) == found
        assert again.usage.requests == 0 and again.usage.cache_hits >= 1
    # a judge given with the rules alone is still used (never silently ignored), through judge(a, b)
    calls = []
    found = find_contradictions(
        ["The weather in Oslo today is sunny.", "Today it is raining in Oslo weather."],
        judge=lambda a, b: calls.append((a, b)) or True,
    )
    assert calls and [c.detector for c in found] == ["judge"]


def test_cli_contradictions(tmp_path):
    path = tmp_path / "contexts.jsonl"
    rows = [{"id": "q1", "contexts": PARAPHRASED}, {"id": "q2", "contexts": UNRELATED}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(app, ["diagnose", "contradictions", "--contexts", str(path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["summary"]["flagged"] == 1 and list(data["found"]) == ["q1"]
    res = CliRunner().invoke(
        app,
        [
            "diagnose",
            "contradictions",
            "--contexts",
            str(path),
            "--detector",
            "rules",
            "-o",
            str(tmp_path / "o.jsonl"),
        ],
    )
    assert res.exit_code == 0 and "0 of 2 contexts" in res.output, res.output

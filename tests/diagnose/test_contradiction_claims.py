"""Claim-aware contradiction mode: one passage supports the claim, another refutes it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.diagnose import (
    StanceModel,
    find_contradictions,
    load_contradiction_model,
    load_stance_model,
    scan_contradictions,
)
from datamill.diagnose.inputs import read_contexts_and_claims
from datamill.errors import ConfigError

# the two passages take opposite stances toward the claim but say different things: no shared number, no
# negation of the same words (the rules see nothing), and as a sentence pair the learned model does not
# flag them
CLAIM = "A man is playing a guitar."
CONTEXT = ["A man strums his guitar on stage.", "A man is sleeping on a couch."]


def test_pairwise_detectors_miss_opposite_stances():
    assert find_contradictions(CONTEXT, detector="combined") == []


def test_claim_aware_mode_flags_a_supporting_and_a_refuting_passage():
    found = find_contradictions(CONTEXT, claim=CLAIM, detector="combined")
    assert len(found) == 1
    c = found[0]
    assert c.kind == "stance" and c.detector == "learned" and c.claim == CLAIM
    assert (c.first, c.second, c.passages) == (CONTEXT[0], CONTEXT[1], (0, 1))
    support, refute = c.stances
    ts, tr = (load_stance_model().info["stance_thresholds"][k] for k in ("support", "refute"))
    assert support >= ts and refute >= tr and c.score == pytest.approx(min(support, refute), abs=1e-4)
    assert "supports it" in c.detail and "refutes it" in c.detail
    # the rules alone are pairwise whatever the claim
    assert find_contradictions(CONTEXT, claim=CLAIM, detector="rules") == []
    # thresholds above every stance probability: nothing
    assert find_contradictions(CONTEXT, claim=CLAIM, detector="learned", refute_threshold=1.0) == []


def test_two_supporting_passages_are_not_flagged():
    assert find_contradictions([CONTEXT[0], CONTEXT[0] + " It was confirmed."], claim=CLAIM) == []


def test_claims_from_rows_and_from_the_parameter(tmp_path):
    path = tmp_path / "contexts.jsonl"
    rows = [
        {"id": "q1", "claim": CLAIM, "contexts": CONTEXT},
        {"id": "q2", "contexts": CONTEXT},  # no claim: pairwise
        {"id": "q3", "question": CLAIM, "contexts": CONTEXT},  # a question is not a claim: pairwise
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ctx, claims = read_contexts_and_claims(str(path))
    assert claims == {"q1": CLAIM} and list(ctx) == ["q1", "q2", "q3"]
    scan = scan_contradictions(str(path))
    assert list(scan.found) == ["q1"] and scan.summary()["claims"] == 1
    assert scan.found["q1"][0].kind == "stance"
    # claim= (one for all) wins over the rows' own
    both = scan_contradictions(str(path), claim=CLAIM)
    assert sorted(both.found) == ["q1", "q2", "q3"] and both.claims == 3
    # a mapping names some contexts
    one = scan_contradictions({"a": CONTEXT, "b": CONTEXT}, claim={"b": CLAIM})
    assert list(one.found) == ["b"]


def test_claim_errors(tmp_path):
    with pytest.raises(ConfigError, match="not among the contexts"):
        scan_contradictions({"a": CONTEXT}, claim={"zzz": CLAIM})
    with pytest.raises(ConfigError, match="only with a claim"):
        find_contradictions(CONTEXT, support_threshold=0.5)
    with pytest.raises(ConfigError, match="within"):
        find_contradictions(CONTEXT, claim=CLAIM, refute_threshold=2.0)
    with pytest.raises(ConfigError, match="runs none"):
        find_contradictions(CONTEXT, claim=CLAIM, detector="rules", refute_threshold=0.5)
    with pytest.raises(ConfigError, match="string"):
        scan_contradictions({"a": CONTEXT}, claim=3)  # type: ignore[arg-type]
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "q", "claim": ["x"], "contexts": CONTEXT}) + "\n")
    with pytest.raises(Exception, match="bad.jsonl.*must be a string|must be a string"):
        read_contexts_and_claims(str(path))


def test_pair_feature_model_as_the_stance_model():
    # weights= the pair-feature model: statements and claim compared as sentence vectors
    model = load_contradiction_model()
    scan = scan_contradictions(
        {"a": CONTEXT},
        claim=CLAIM,
        detector="learned",
        weights=model,
        support_threshold=0.0,
        refute_threshold=0.0,
    )
    assert scan.found["a"][0].kind == "stance" and scan.pairs_scored == 2


def test_stance_model_round_trip(tmp_path):
    model = load_stance_model()
    assert model.classes == ["contradiction", "entailment", "neutral"]
    assert model.info["held_out"]["snli_test"]["pairs"] > 9000
    model.save(str(tmp_path / "s.npz"))
    again = StanceModel.load(tmp_path / "s.npz")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 384)).astype(np.float32), rng.normal(size=(3, 384)).astype(np.float32)
    pa, pb = model.project(a), model.project(b)
    want = model.probabilities_projected([(pa, pb)])
    got = again.probabilities_projected([(again.project(a), again.project(b))])
    assert want.shape == (1, 3) and np.allclose(want.sum(), 1) and np.allclose(want, got, atol=1e-3)
    # a path to a stance model is read as one
    found = find_contradictions(CONTEXT, claim=CLAIM, detector="learned", weights=str(tmp_path / "s.npz"))
    assert [c.kind for c in found] == ["stance"]


def test_cli_claim(tmp_path):
    path = tmp_path / "contexts.jsonl"
    path.write_text(json.dumps({"id": "q1", "contexts": CONTEXT}) + "\n")
    res = CliRunner().invoke(app, ["diagnose", "contradictions", "--contexts", str(path), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["summary"]["flagged"] == 0, res.output
    res = CliRunner().invoke(
        app, ["diagnose", "contradictions", "--contexts", str(path), "--claim", CLAIM, "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["summary"]["flagged"] == 1 and data["found"]["q1"][0]["kind"] == "stance"
    assert data["found"]["q1"][0]["claim"] == CLAIM and len(data["found"]["q1"][0]["stances"]) == 2
    res = CliRunner().invoke(
        app,
        [
            "diagnose",
            "contradictions",
            "--contexts",
            str(path),
            "--claim",
            CLAIM,
            "--refute-threshold",
            "1.0",
            "--json",
        ],
    )
    assert res.exit_code == 0 and json.loads(res.output)["summary"]["flagged"] == 0, res.output


def test_incontext_pack_checks_passages_pairwise_not_against_the_question():
    from datamill.incontext.pack import pack_prompt

    # the same passages a claim-aware check flags (see above) do not contradict each other
    packed = pack_prompt(CLAIM, passages=CONTEXT, check_contradictions=True, dedup_threshold=None)
    assert packed.contradictions == []
    clash = ["The bridge opened in 1932.", "The bridge opened in 1958."]
    packed = pack_prompt(
        "When did the bridge open?", passages=clash, check_contradictions=True, dedup_threshold=None
    )
    assert len(packed.contradictions) == 1 and "rules" in packed.contradictions[0]["detector"]


def test_stance_scoring_is_batched_and_its_memo_bounded(monkeypatch):
    from datamill.diagnose import stance
    from datamill.diagnose.stance import StanceModel

    shipped = stance.load_stance_model()
    model = StanceModel(shipped.params, shipped.classes, shipped.threshold, shipped.info)
    pairs = [
        (f"Passage {i} says a man is {'playing' if i % 2 else 'not playing'} a guitar.", CLAIM)
        for i in range(30)
    ]
    whole = model.probabilities(pairs)
    monkeypatch.setattr(stance, "SCORE_BATCH", 4)
    monkeypatch.setattr(stance, "MEMO_TEXTS", 6)
    model.memo.clear()
    batched = model.probabilities(pairs)
    assert batched.shape == (30, 3) and np.allclose(batched, whole, atol=1e-5)
    assert len(model.memo) <= 6 and CLAIM in model.memo  # a scan's texts never all stay in the shipped model

"""The cross-encoder contradiction detector: its shipped delta format and its place behind the one API."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datamill.diagnose import find_contradictions, load_cross_encoder, scan_contradictions
from datamill.diagnose.cross import build_top, join_states, load_top, save_top
from datamill.errors import ConfigError

PARAPHRASED = ["The store is open every Sunday.", "On Sundays the store stays closed all day."]


def _random_top(tmp_path, threshold: float = 0.0) -> str:
    torch.manual_seed(0)
    top = build_top(2)
    path = str(tmp_path / "top.npz")
    save_top(
        top, path, split=4, classes=["contradiction", "entailment", "neutral"], threshold=threshold, info={}
    )
    return path


def test_int8_delta_round_trip(tmp_path):
    torch.manual_seed(0)
    top = build_top(2).eval()
    path = str(tmp_path / "top.npz")
    save_top(
        top, path, split=4, classes=["contradiction", "entailment", "neutral"], threshold=0.4, info={"a": 1}
    )
    again, meta = load_top(path)
    assert meta["split"] == 4 and meta["threshold"] == 0.4 and meta["info"] == {"a": 1}
    h, mask, second = join_states([(torch.randn(5, 384), torch.randn(4, 384)), (torch.randn(3, 384),) * 2])
    assert mask.tolist()[1] == [1, 1, 1, 1, 1, 0, 0, 0] and second.tolist()[0] == [0] * 5 + [1] * 3
    with torch.inference_mode():
        want, got = torch.softmax(top(h, mask, second), -1), torch.softmax(again(h, mask, second), -1)
    assert torch.allclose(want, got, atol=0.02)  # int8 weights with one scale per row
    # 2-D weights go as int8: the file is about a quarter of float32
    n = sum(p.numel() for p in top.parameters())
    assert (tmp_path / "top.npz").stat().st_size < n * 1.3


def test_cross_detector_behind_the_one_api(tmp_path):
    model = load_cross_encoder(_random_top(tmp_path))
    found = find_contradictions(PARAPHRASED, detector="cross", weights=model)
    assert len(found) == 1 and found[0].detector == "cross" and found[0].kind == "cross"
    assert 0 < found[0].score < 1 and found[0].passages == (0, 1)
    # both models on one pair: one contradiction naming both
    scan = scan_contradictions({"a": PARAPHRASED}, detector="learned+cross", weights=model, threshold=0.0)
    assert [c.detector for c in scan.found["a"]] == ["learned+cross"]
    assert scan.summary()["detectors"] == ["learned", "cross"] and scan.pairs_scored == 2
    # the same statement vectors as the shipped embedder gives
    from datamill.embed import get_embedder

    want = get_embedder().encode(PARAPHRASED)
    want = want / np.linalg.norm(want, axis=1, keepdims=True)
    # the embedder may run another backend/precision (OpenVINO bf16 on AMX CPUs): the same vectors up to that
    assert np.all((model.encode(PARAPHRASED) * want).sum(1) > 0.999)


def test_weights_path_names_one_model(tmp_path):
    with pytest.raises(ConfigError, match="names one model"):
        find_contradictions(PARAPHRASED, detector="learned+cross", weights=_random_top(tmp_path))


def test_cross_reads_only_the_most_suspicious_pairs(tmp_path):
    model = load_cross_encoder(_random_top(tmp_path))
    ctx = [
        "The store is open every Sunday.",
        "On Sundays the store stays closed all day.",
        "The store opens at nine on Sundays.",
        "Every Sunday the store is open late.",
    ]
    every = scan_contradictions({"a": ctx}, detector="cross", weights=model, cross_pairs=100)
    one = scan_contradictions({"a": ctx}, detector="cross", weights=model, cross_pairs=1)
    assert every.pairs_scored > 1 and one.pairs_scored == 1 and len(one.found["a"]) == 1
    with pytest.raises(ConfigError, match="cross_pairs"):
        scan_contradictions({"a": ctx}, detector="cross", weights=model, cross_pairs=0)


def test_no_shipped_weights_says_how_to_train():
    with pytest.raises(ConfigError, match="train_cross_encoder.py"):
        find_contradictions(PARAPHRASED, detector="cross")

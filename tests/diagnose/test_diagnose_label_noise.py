"""Confident learning equals cleanlab's find_label_issues; neighbour disagreement on generative data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datamill.diagnose import (
    compute_confident_joint,
    find_label_issues,
    label_quality_scores,
    neighbour_disagreement,
)
from datamill.errors import ConfigError


@pytest.fixture(scope="module")
def news(sample_data):
    d = sample_data / "diagnose"
    labels = np.load(d / "original_test_labels_20news_test_set_original_labels.npy").astype(np.int64)
    probs = np.load(d / "cross_validated_predicted_probabilities_20news_test_set_pyx.npy")
    mturk = json.loads((d / "mturk_20news_mturk.json").read_text())
    return labels, probs, mturk


def test_equals_cleanlab_on_20news(news):
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    labels, probs, _ = news
    ours = find_label_issues(labels, probs)
    theirs = cleanlab_filter.find_label_issues(labels, probs, n_jobs=1)
    assert ours.sum() > 50
    assert np.array_equal(ours, theirs)
    for rank in ("self_confidence", "normalized_margin"):
        assert np.array_equal(
            find_label_issues(labels, probs, return_indices_ranked_by=rank),
            cleanlab_filter.find_label_issues(labels, probs, n_jobs=1, return_indices_ranked_by=rank),
        )
    assert np.array_equal(
        find_label_issues(labels, probs, frac_noise=0.5),
        cleanlab_filter.find_label_issues(labels, probs, n_jobs=1, frac_noise=0.5),
    )


def test_confident_joint_equals_cleanlab(news):
    count = pytest.importorskip("cleanlab.count")
    labels, probs, _ = news
    assert np.array_equal(
        compute_confident_joint(labels, probs), count.compute_confident_joint(labels, probs)
    )
    assert compute_confident_joint(labels, probs).sum() == len(labels)


def test_precision_recall_against_mturk(news):
    """Recall is among the candidates humans checked (the 82 confirmed errors); printed next to cleanlab's."""
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    labels, probs, mturk = news
    candidates = {m["id"] for m in mturk}
    verified = {m["id"] for m in mturk if m["mturk"]["given"] < 3}
    assert len(verified) == 82
    out = {}
    for name, mask in (
        ("datamill", find_label_issues(labels, probs)),
        ("cleanlab", cleanlab_filter.find_label_issues(labels, probs, n_jobs=1)),
    ):
        flagged = set(np.flatnonzero(mask).tolist())
        checked = flagged & candidates
        out[name] = (len(flagged & verified) / max(len(checked), 1), len(flagged & verified) / len(verified))
        print(
            f"{name}: flagged {len(flagged)}, precision among checked {out[name][0]:.3f}, "
            f"recall among candidates {out[name][1]:.3f}"
        )
    assert out["datamill"] == out["cleanlab"]
    assert out["datamill"][0] > 0.8 and out["datamill"][1] > 0.6  # measured: 0.873 and 0.671


def test_small_cases_and_errors():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9], [0.95, 0.05], [0.15, 0.85]])
    labels = np.array([0, 0, 1, 1, 1, 0])  # the last two look swapped
    assert find_label_issues(labels, probs).tolist() == [False, False, False, False, True, True]
    assert find_label_issues(labels, probs, return_indices_ranked_by="self_confidence").tolist() == [4, 5]
    assert label_quality_scores(labels, probs)[4] == pytest.approx(0.05)
    with pytest.raises(ConfigError, match="labels must be integers"):
        find_label_issues(np.array([0, 2]), probs[:2])
    with pytest.raises(ConfigError, match="shape"):
        find_label_issues(np.array([0]), np.array([0.5, 0.5]))


def test_neighbour_disagreement():
    targets = ["a", "a", "a", "a", "b", "c", "c"]
    nb = np.array(
        [
            [1, 2, 3, 4],
            [0, 2, 3, 4],
            [0, 1, 3, 4],
            [0, 1, 2, 4],
            [0, 1, 2, 3],
            [6, -1, -1, -1],
            [5, -1, -1, -1],
        ]
    )
    sims = np.where(nb >= 0, 0.9, -np.inf)
    found = neighbour_disagreement(targets, nb, sims, min_sim=0.8, min_neighbours=3, majority=0.75)
    assert [(f.index, f.majority) for f in found] == [(4, "a")]
    # free text: a custom agreement function
    found = neighbour_disagreement(targets, nb, sims, same=lambda i, j: targets[i] == targets[j])
    assert [f.index for f in found] == [4]


def test_knn_pred_probs_are_leave_one_out():
    from datamill.diagnose import knn_pred_probs
    from datamill.diagnose.coverage import knn

    # two tight groups; row 3 sits in group A but carries group B's label
    vecs = np.array([[1, 0.0], [1, 0.05], [1, -0.05], [1, 0.02], [0, 1.0], [0.05, 1], [-0.05, 1]])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    nb, sims = knn(vecs, vecs, 3, exclude_self=True)
    p = knn_pred_probs(labels, nb, sims, 2)
    assert p.shape == (7, 2) and np.allclose(p.sum(axis=1), 1)
    assert p[3, 0] > 0.99  # row 3 never votes for itself: its neighbours all say class 0
    assert find_label_issues(labels, p).tolist() == [False, False, False, True, False, False, False]

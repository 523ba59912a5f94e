"""Agreement functions against published values and the reference libraries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datamill.feedback.agreement import (
    LEVELS,
    cohen_kappa,
    cohen_kappa_table,
    fleiss_kappa,
    fleiss_table,
    krippendorff_alpha,
    pairwise_cohen,
)


@pytest.fixture(scope="module")
def oracles(sample_data):  # noqa: ANN001, ANN201
    return json.loads((sample_data / "feedback" / "iaa_oracles.json").read_text())


def test_krippendorff_2011_published_values(oracles) -> None:  # noqa: ANN001
    case = oracles["krippendorff_2011_reliability_data"]
    for level, expected in case["expected"].items():
        assert krippendorff_alpha(case["data"], level=level) == pytest.approx(expected, abs=5e-4)
    for key in ("krippendorff_2011_binary_2obs", "krippendorff_2011_nominal_2obs"):
        assert krippendorff_alpha(oracles[key]["data"]) == pytest.approx(
            oracles[key]["expected"]["nominal"], abs=5e-4
        )


def test_fleiss_and_cohen_published_values(oracles) -> None:  # noqa: ANN001
    f = oracles["fleiss_1971_wikipedia_example"]
    assert fleiss_kappa(f["data"]) == pytest.approx(f["expected"]["fleiss_kappa"], abs=5e-4)
    c = oracles["cohen_wikipedia_example"]
    assert cohen_kappa_table(c["table"]) == pytest.approx(c["expected"]["cohen_kappa"], abs=1e-9)
    # the same table as two label sequences
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_published_examples_match_the_reference_libraries(oracles) -> None:  # noqa: ANN001
    """On the published data sets themselves: ours == krippendorff, statsmodels (Fleiss), sklearn (Cohen)."""
    krippendorff = pytest.importorskip("krippendorff")
    irr = pytest.importorskip("statsmodels.stats.inter_rater")
    metrics = pytest.importorskip("sklearn.metrics")
    for key in (
        "krippendorff_2011_reliability_data",
        "krippendorff_2011_binary_2obs",
        "krippendorff_2011_nominal_2obs",
    ):
        data = np.array(
            [[np.nan if v is None else v for v in row] for row in oracles[key]["data"]], dtype=float
        )
        for level in LEVELS if key == "krippendorff_2011_reliability_data" else ("nominal",):
            ref = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
            assert krippendorff_alpha(oracles[key]["data"], level=level) == pytest.approx(ref, abs=1e-12)
    table = np.array(oracles["fleiss_1971_wikipedia_example"]["data"])
    assert fleiss_kappa(table.tolist()) == pytest.approx(irr.fleiss_kappa(table), abs=1e-12)
    (yy, yn), (ny, nn) = oracles["cohen_wikipedia_example"]["table"]
    a = ["y"] * (yy + yn) + ["n"] * (ny + nn)
    b = ["y"] * yy + ["n"] * yn + ["y"] * ny + ["n"] * nn
    assert cohen_kappa(a, b) == pytest.approx(metrics.cohen_kappa_score(a, b), abs=1e-12)
    assert cohen_kappa_table([[yy, yn], [ny, nn]]) == pytest.approx(
        metrics.cohen_kappa_score(a, b), abs=1e-12
    )


@pytest.mark.parametrize("seed", range(5))
def test_krippendorff_matches_reference_library(seed: int) -> None:
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 6, size=(4, 30)).astype(float)
    truth = rng.integers(1, 6, size=30)
    data[:2] = np.where(rng.random((2, 30)) < 0.6, truth, data[:2])  # some real agreement
    data[rng.random(data.shape) < 0.2] = np.nan
    for level in LEVELS:
        ref = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        assert krippendorff_alpha(data, level=level) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_fleiss_matches_statsmodels(seed: int) -> None:
    irr = pytest.importorskip("statsmodels.stats.inter_rater")
    rng = np.random.default_rng(seed)
    ratings = rng.integers(0, 3, size=(40, 5))
    ratings[:, 1] = np.where(rng.random(40) < 0.5, ratings[:, 0], ratings[:, 1])
    table, _ = irr.aggregate_raters(ratings)
    assert fleiss_kappa(fleiss_table(ratings.tolist())) == pytest.approx(irr.fleiss_kappa(table), abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_cohen_matches_sklearn(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, size=60)
    b = np.where(rng.random(60) < 0.6, a, rng.integers(0, 4, size=60))
    assert cohen_kappa(a.tolist(), b.tolist()) == pytest.approx(metrics.cohen_kappa_score(a, b), abs=1e-9)


def test_edge_cases_and_errors() -> None:
    assert krippendorff_alpha([[1, 1, 2], [1, 1, 2]]) == 1.0
    assert np.isnan(krippendorff_alpha([[1, None], [None, 2]]))  # no pairable unit
    with pytest.raises(ValueError, match="unknown level"):
        krippendorff_alpha([[1]], level="cardinal")
    with pytest.raises(ValueError, match="same number of ratings"):
        fleiss_kappa([[1, 1], [3, 0]])
    with pytest.raises(ValueError, match="same items"):
        cohen_kappa([1, 2], [1])
    assert cohen_kappa([1, None, 2], [1, 2, None]) == 1.0  # only the (1, 1) pair is rated by both
    pairs = pairwise_cohen(
        {"x": {1: "a", 2: "b", 3: "a"}, "y": {1: "a", 2: "b", 3: "b"}, "z": {9: "a"}}, min_items=2
    )
    assert [(p["a"], p["b"], p["shared"]) for p in pairs] == [("x", "y", 3)]
    assert pairs[0]["agreement"] == pytest.approx(2 / 3)

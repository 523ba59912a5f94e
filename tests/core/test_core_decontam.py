"""The shared n-gram decontamination index."""

from __future__ import annotations

import pytest

from datamill.decontam import NgramIndex
from datamill.errors import ConfigError

Q = "Which planet in the solar system has the largest number of confirmed moons as of this year"


def test_long_eval_text_matches_by_shared_ngrams_case_and_punctuation_blind():
    bank = NgramIndex([Q], n=13)
    assert bank.overlap("Trivia! " + Q.upper() + "? Saturn.") == len(Q.split()) - 13 + 1
    assert bank.overlap("Saturn has the most confirmed moons.") == 0


def test_short_eval_texts_whole_or_ignored():
    whole = NgramIndex(["capital of Burkina Faso"], n=13, short="whole")
    assert whole.overlap("What is the capital of burkina faso, then?") == 1
    assert whole.overlap("capital of Burkina") == 0
    ignored = NgramIndex(["capital of Burkina Faso", "", "   "], n=13, short="ignore")
    assert ignored.too_short == 1 and len(ignored) == 0 and ignored.texts == 1
    assert ignored.overlap("What is the capital of burkina faso") == 0


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"short": "drop"}])
def test_bad_parameters(kwargs):
    with pytest.raises(ConfigError):
        NgramIndex(**kwargs)

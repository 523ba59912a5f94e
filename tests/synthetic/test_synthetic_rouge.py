"""ROUGE-L against the rouge_score definition (tokenise, LCS, F1), written out as a plain DP here."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from datamill.synthetic import RougeIndex, lcs_length, rouge_l, rouge_tokens


def _ref_tokens(text: str) -> list[str]:
    # rouge_score.tokenize.tokenize without stemming
    text = re.sub(r"[^a-z0-9]+", " ", text.lower())
    return [t for t in text.split() if re.match(r"^[a-z0-9]+$", t)]


def _ref_lcs(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = (
                table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1][j], table[i][j - 1])
            )
    return table[-1][-1]


def _ref_rouge_l(target: str, prediction: str) -> float:
    t, p = _ref_tokens(target), _ref_tokens(prediction)
    if not t or not p:
        return 0.0
    lcs = _ref_lcs(t, p)
    precision, recall = lcs / len(p), lcs / len(t)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def test_known_values():
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert rouge_l("", "anything") == 0.0
    # LCS("police killed the gunman", "police kill the gunman") = 3 -> P = R = 3/4
    assert abs(rouge_l("police killed the gunman", "police kill the gunman") - 0.75) < 1e-12
    assert rouge_tokens("Hello, World! It's 2024.") == ["hello", "world", "it", "s", "2024"]


words = st.sampled_from(["a", "b", "c", "d", "e", "the", "cat", "Dog!", "x-y", "é"])


@settings(max_examples=300, deadline=None)
@given(st.lists(words, max_size=40), st.lists(words, max_size=40))
def test_matches_reference_definition(a, b):
    sa, sb = " ".join(a), " ".join(b)
    assert lcs_length(_ref_tokens(sa), _ref_tokens(sb)) == _ref_lcs(_ref_tokens(sa), _ref_tokens(sb))
    assert abs(rouge_l(sb, sa) - _ref_rouge_l(sa, sb)) < 1e-12


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.lists(words, min_size=1, max_size=15), min_size=1, max_size=20), st.lists(words, max_size=15)
)
def test_index_max_is_exact(pool, query):
    texts = [" ".join(p) for p in pool]
    q = " ".join(query)
    idx = RougeIndex(texts)
    best, i = idx.max_score(q)
    expected = max(_ref_rouge_l(t, q) for t in texts)
    assert abs(best - expected) < 1e-12
    if best > 0:
        assert abs(_ref_rouge_l(texts[i], q) - best) < 1e-12


def test_long_sequences_beyond_machine_word():
    a = ("alpha beta gamma delta " * 60).split()
    b = ("beta gamma alpha delta " * 55).split()
    assert lcs_length(a, b) == _ref_lcs(a, b)

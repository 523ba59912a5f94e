"""The shared MinHash: Jaccard estimates, LSH parameters against datasketch, clusters, bad parameters."""

from __future__ import annotations

import numpy as np
import pytest

from datamill.errors import ConfigError
from datamill.minhash import MinHasher, lsh_params, minhash_signatures, near_duplicate_clusters


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b)


@pytest.mark.parametrize("overlap", [0.2, 0.5, 0.8])
def test_signature_agreement_estimates_jaccard(overlap):
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in rng.permutation(4000)]
    shared = int(1000 * overlap)
    a = words[:1000]
    b = words[:shared] + words[2000 : 2000 + 1000 - shared]
    truth = _jaccard(set(a), set(b))
    sig = MinHasher(num_perm=512, ngram=1).signatures([" ".join(a), " ".join(b)])
    assert abs(float(np.mean(sig[0] == sig[1])) - truth) < 0.06


def test_lsh_params_match_datasketch():
    ds = pytest.importorskip("datasketch.lsh")
    for threshold, num_perm in [(0.5, 128), (0.7, 128), (0.8, 128), (0.9, 256)]:
        assert lsh_params(threshold, num_perm) == ds._optimal_param(threshold, num_perm, 0.5, 0.5)


def test_clusters_group_edits_and_keep_first():
    base = "the quick brown fox jumps over the lazy dog near the river bank at dawn every day"
    texts = [
        base,
        "completely unrelated words about tax law and ledgers in spring",
        base + " again",
        base.replace("lazy", "sleepy"),
        "completely unrelated words about tax law and ledgers in spring",
    ]
    cid = near_duplicate_clusters(texts, threshold=0.6, ngram=2)
    assert cid[0] == 0 and cid[2] == 0 and cid[3] == 0
    assert cid[1] == 1 and cid[4] == 1


def test_signatures_do_not_depend_on_batching():
    docs = [f"document {i} says {' '.join(str(j) for j in range(i % 17))}" for i in range(50)]
    whole = minhash_signatures(docs)
    parts = np.vstack([minhash_signatures(docs[:13]), minhash_signatures(docs[13:])])
    assert np.array_equal(whole, parts)
    assert np.array_equal(MinHasher().signature(docs[3]), whole[3])


@pytest.mark.parametrize("kwargs", [{"num_perm": 1}, {"ngram": 0}, {"unit": "byte"}])
def test_bad_parameters_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        minhash_signatures(["a b c"], **kwargs)


def test_bands_times_rows_over_num_perm_is_refused():
    with pytest.raises(ConfigError, match="exceeds num_perm"):
        near_duplicate_clusters(["a", "b"], num_perm=16, bands=8, rows=4)

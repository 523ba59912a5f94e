"""MinHash for the pre-training stage: re-exports :mod:`datamill.minhash`, the one implementation."""

from __future__ import annotations

from datamill.minhash import (
    band_hashes,
    lsh_params,
    minhash_signatures,
    near_duplicate_clusters,
    shingle_hashes,
)

__all__ = ["band_hashes", "lsh_params", "minhash_signatures", "near_duplicate_clusters", "shingle_hashes"]

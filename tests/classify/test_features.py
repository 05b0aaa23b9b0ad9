"""The featurisers' sparse assembly matches scipy's own operations."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]

from aupgate.classify.features import NgramFeatures, side_by_side


def test_side_by_side_equals_scipy_hstack() -> None:
    rng = np.random.default_rng(0)
    sparse_rows = rng.random((5, 7), dtype=np.float32) * (rng.random((5, 7)) < 0.3)
    sparse_rows[2] = 0  # an empty row
    a = sp.csr_matrix(sparse_rows)
    dense = rng.random((5, 3), dtype=np.float32)
    b = sp.random(5, 4, density=0.5, format="csr", random_state=2, dtype=np.float32)
    got = side_by_side([a, dense, b], 5)
    want = sp.hstack([a, sp.csr_matrix(dense), b], format="csr")
    assert got.shape == (5, 14)
    assert np.array_equal(got.toarray(), want.toarray())
    assert got.has_sorted_indices


def test_ngram_rows_have_unit_norm_and_blank_text_none() -> None:
    x = NgramFeatures(n_features=2**10)(["plan the jamming of the radars", "", "a a a a b"])
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    assert np.allclose(norms, [1.0, 0.0, 1.0], atol=1e-6)

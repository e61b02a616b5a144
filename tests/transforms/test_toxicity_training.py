"""The pieces of the built-in models that are pure maths: hashed n-gram features and the two fits."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from tokenmill.transforms.toxicity_ngrams import BUCKETS, features, linear_scores, ngram_buckets

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from train_toxicity import fit_logistic, fit_logistic_sparse  # noqa: E402


def test_ngram_features_are_deterministic_normalised_and_handle_empty_text():
    assert ngram_buckets("") == {}
    a, b = ngram_buckets("You IDIOT!"), ngram_buckets("you idiot !")
    assert a == b                                       # case and spacing of punctuation do not matter
    assert len(a) == 3 + 2 + (3 + 2 + 1) + (5 + 4 + 3)   # 3 tokens, 2 bigrams, 3-5-grams of "<you>", "<idiot>"
    indptr, indices, values = features(["", "you idiot", ""])
    assert list(np.diff(indptr)) == [0, len(ngram_buckets("you idiot")), 0]
    assert np.linalg.norm(values) == pytest.approx(1.0) and indices.max() < BUCKETS
    weights = np.zeros(BUCKETS)
    weights[indices] = 1.0
    scores = linear_scores(["", "you idiot", ""], weights, 0.5)
    assert scores[0] == scores[2] == 0.5 and scores[1] == pytest.approx(0.5 + values.sum())


def test_newton_and_lbfgs_fits_agree_and_separate_the_classes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    y = (x @ np.array([2.0, -1.0, 0.0, 0.5, 0.0]) + 0.3 + rng.normal(scale=0.5, size=400) > 0).astype(float)
    w_dense, b_dense = fit_logistic(x, y, l2=1.0)
    w_sparse, b_sparse = fit_logistic_sparse(csr_matrix(x), y, l2=1.0)
    np.testing.assert_allclose(w_dense, w_sparse, atol=1e-3)
    assert b_dense == pytest.approx(b_sparse, abs=1e-3)
    assert w_dense[0] > 1.0 and w_dense[1] < -0.5 and abs(w_dense[2]) < 0.5
    accuracy = (((x @ w_dense + b_dense) > 0) == y).mean()
    assert accuracy > 0.85

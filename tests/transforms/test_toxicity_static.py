"""The static e5 word vectors experiment (scripts/static_vectors.py) and the training script's pieces it uses."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

from tokenmill.transforms.toxicity_ngrams import BUCKETS, features as ngram_features

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from static_vectors import StaticVectors, save_table, words_of  # noqa: E402
from train_toxicity import featurize, text_sources  # noqa: E402


def test_words_are_lowercased_runs_and_cjk_characters_one_by_one():
    assert words_of("Du IDIOT, don't!") == ["du", "idiot", "don", "t"]
    assert words_of("我们是人 テスト ok") == ["我", "们", "是", "人", "テ", "ス", "ト", "ok"]
    assert words_of("  ...  ") == []


def test_features_are_the_weighted_mean_of_known_words_normalised(tmp_path):
    vectors = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 4.0]])
    save_table(tmp_path / "t.npz", ["a", "b", "c"], vectors, np.array([1.0, 0.5, 0.25]), {"x": 1})
    table = StaticVectors(tmp_path / "t.npz")
    assert table.dims == 3 and table.meta == {"x": 1}
    x = table.features(["A b zzz", "", "zzz qqq", "c c", "b a"])
    np.testing.assert_allclose(x[0], np.array([1.0, 1.0, 0.0]) / np.sqrt(2), rtol=1e-3)   # zzz unknown: skipped
    np.testing.assert_array_equal(x[1], np.zeros(3))     # no words
    np.testing.assert_array_equal(x[2], np.zeros(3))     # no known word
    np.testing.assert_allclose(x[3], [0.0, 0.0, 1.0], rtol=1e-3)
    np.testing.assert_allclose(x[4], x[0], rtol=1e-6)    # order does not matter
    assert x.dtype == np.float32


def test_a_table_needs_one_vector_and_weight_per_word(tmp_path):
    with pytest.raises(ValueError):
        save_table(tmp_path / "t.npz", ["a", "b"], np.zeros((3, 2)), np.ones(2), {})
    with pytest.raises(ValueError):
        save_table(tmp_path / "t.npz", ["a\nb"], np.zeros((1, 2)), np.ones(1), {})


def test_static_training_features_are_the_ngrams_then_the_word_vectors(tmp_path):
    save_table(tmp_path / "t.npz", ["idiot", "haus"], np.eye(2), np.ones(2), {})
    texts = ["You idiot", "Das Haus", ""]
    x = featurize("static", texts, argparse.Namespace(table=tmp_path / "t.npz")).toarray()
    assert x.shape == (3, BUCKETS + 2)
    indptr, indices, values = ngram_features(texts)
    np.testing.assert_allclose(x[1, indices[indptr[1]:indptr[2]]], values[indptr[1]:indptr[2]], rtol=1e-6)
    np.testing.assert_allclose(x[:, BUCKETS:], [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], atol=1e-3)


def test_each_training_text_is_named_by_its_source():
    counts = {"davidson_hate": 1, "davidson_offensive": 2, "davidson_neither": 1, "realtoxicityprompts": 2,
              "clean_boolq": 1, "clean_udhr_en": 2}
    assert text_sources(counts) == ["davidson"] * 4 + ["rtp"] * 2 + ["boolq"] + ["udhr_en"] * 2

"""The fast model's hashed n-gram features: the memoised, batched path (`features`) must give
exactly the features of the reference definition (`ngram_buckets`: log(1 + count), L2-normalised),
whatever the batch, the order, or what the memo already holds."""

from __future__ import annotations

import numpy as np
import pytest

from tokenmill.transforms import toxicity_ngrams as ng

TEXTS = [
    "You are a worthless piece of garbage, shut up you stupid idiot.",
    "Der Zug nach München fährt um halb neun von Gleis vier ab.",
    "the the the the",            # repeated unigrams and bigrams: counts above one
    "f*ckin idiooot!!!",           # punctuation tokens, in-word character grams
    "ab",                          # too short for character grams
    "",                            # nothing at all: an empty row
    "東京は日本の首都です。",        # no spaces: one long \w token
]


def reference(text: str) -> dict[int, float]:
    counts = ng.ngram_buckets(text)
    v = np.log1p(np.array(list(counts.values()), dtype=float))
    norm = np.linalg.norm(v)
    return {b: x / norm for b, x in zip(counts, v)} if norm else {}


def rows(texts):
    indptr, indices, values = ng.features(texts)
    return [dict(zip(indices[a:b].tolist(), values[a:b].tolist())) for a, b in zip(indptr[:-1], indptr[1:])]


@pytest.mark.parametrize("text", TEXTS)
def test_features_equal_the_reference_definition(text):
    [got] = rows([text])
    want = reference(text)
    assert got.keys() == want.keys()
    for bucket, value in want.items():
        assert got[bucket] == pytest.approx(value, rel=1e-6)


@pytest.mark.parametrize("text, grams", [
    ("ab", ["w:ab"]),                                              # under 3 characters: the word only
    ("abc", ["w:abc", "c:<ab", "c:abc", "c:bc>", "c:<abc", "c:abc>", "c:<abc>"]),
    ("!", ["w:!"]),                                                # punctuation: no character grams
    ("_ab", ["w:_ab"]),                                            # starts with a non-alphanumeric \w
])
def test_word_grams(text, grams):
    assert ng.word_grams(text) == grams


def test_batch_order_and_memo_do_not_change_features():
    alone = [rows([t])[0] for t in TEXTS]
    ng._WORDS.clear()
    ng._BIGRAMS.clear()
    assert rows(TEXTS) == alone                      # cold memo, one batch
    assert rows(TEXTS[::-1]) == alone[::-1]          # warm memo, another order


def test_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(ng, "_MEMO_WORDS", 3)
    ng._WORDS.clear()
    before = rows(["one two three four five six"])
    assert len(ng._WORDS) <= 3
    assert rows(["one two three four five six"]) == before


def test_linear_scores_are_the_dot_product():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=ng.BUCKETS)
    want = [sum(weights[b] * x for b, x in reference(t).items()) + 0.5 for t in TEXTS]
    np.testing.assert_allclose(ng.linear_scores(TEXTS, weights, 0.5), want, rtol=1e-5, atol=1e-6)

"""Hashed n-gram features for the fast built-in toxicity model (`toxicity.builtin_model: fast`).

Word unigrams and bigrams plus character 3-5-grams inside words (which catch spelling games such
as "f*ckin" or "idiooot"), hashed with xxh32 into 2^18 buckets (the hashing trick of Weinberger
et al. 2009: no vocabulary to ship), log-scaled counts, L2-normalised per text. A logistic
regression over them (trained by scripts/train_toxicity.py --kind fast) is about a hundred times
cheaper than the e5 encoder and needs nothing but numpy and xxhash; it is also weaker, mostly
across languages (bench/bench_toxicity.py measures both).

Speed: a word's own buckets (its unigram and its character n-grams) are the same wherever it
occurs, and so is a bigram's, so each is hashed once per worker and memoised (`_WordBuckets`,
`_BigramBuckets`: words follow Zipf's law, so most words and many bigrams of a page are hits). The
features are exactly those of `ngram_buckets` (tests/transforms/test_toxicity_ngrams.py).
"""

from __future__ import annotations

import re
from itertools import chain
from typing import Sequence

import numpy as np
import xxhash

BUCKETS = 1 << 18
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_MEMO_WORDS = 200_000
"""Words memoised per worker before the memo is emptied (about 60 MB at most)."""


def _hash(gram: str) -> int:
    return xxhash.xxh32_intdigest(gram.encode("utf-8")) & (BUCKETS - 1)


def word_grams(word: str) -> list[str]:
    """A word's own grams: its unigram and, for a word of 3+ characters starting alphanumeric,
    the character 3-, 4- and 5-grams of the word padded with < and >."""
    grams = [f"w:{word}"]
    if len(word) >= 3 and word[0].isalnum():
        padded = f"<{word}>"
        for n in (3, 4, 5):
            grams += [f"c:{padded[i:i + n]}" for i in range(len(padded) - n + 1)]
    return grams


def ngram_buckets(text: str) -> dict[int, int]:
    """Bucket -> count of the hashed n-grams of one text (the reference definition of the features)."""
    words = _TOKEN.findall(text.lower())
    grams = [g for w in words for g in word_grams(w)]
    grams += [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    counts: dict[int, int] = {}
    for g in grams:
        bucket = _hash(g)
        counts[bucket] = counts.get(bucket, 0) + 1
    return counts


class _WordBuckets(dict):
    """word -> tuple of its own buckets, filled on first sight."""

    def __missing__(self, word: str) -> tuple[int, ...]:
        if len(self) >= _MEMO_WORDS:
            self.clear()
        buckets = self[word] = tuple(_hash(g) for g in word_grams(word))
        return buckets


class _BigramBuckets(dict):
    """"a b" -> the bucket of the bigram of words a and b, filled on first sight."""

    def __missing__(self, pair: str) -> int:
        if len(self) >= _MEMO_WORDS:
            self.clear()
        bucket = self[pair] = _hash(f"b:{pair}")
        return bucket


_WORDS, _BIGRAMS = _WordBuckets(), _BigramBuckets()


def _gram_buckets(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(every gram's bucket of every text, with repetitions: the multisets ngram_buckets counts;
    how many belong to each text)."""
    flat: list[int] = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        before = len(flat)
        words = _TOKEN.findall(text.lower())
        flat.extend(chain.from_iterable(map(_WORDS.__getitem__, words)))
        flat.extend(map(_BIGRAMS.__getitem__, map(" ".join, zip(words, words[1:]))))
        lengths[i] = len(flat) - before
    return np.array(flat, dtype=np.int64), lengths


def features(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR parts (indptr, indices, values) of the (len(texts), BUCKETS) feature matrix, columns
    sorted within a row: log(1 + count) of each bucket, L2-normalised per row."""
    flat, lengths = _gram_buckets(texts)
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    keys, counts = np.unique(rows * BUCKETS + flat, return_counts=True)
    row_of = keys // BUCKETS
    values = np.log1p(counts.astype(np.float64))
    norms = np.sqrt(np.bincount(row_of, weights=values * values, minlength=len(texts)))
    values = values / np.where(norms > 0, norms, 1.0)[row_of]
    indptr = np.r_[0, np.cumsum(np.bincount(row_of, minlength=len(texts)))].astype(np.int64)
    return indptr, keys % BUCKETS, values.astype(np.float32)


def linear_scores(texts: Sequence[str], weights: np.ndarray, bias: float) -> np.ndarray:
    """weights . features(text) + bias for each text, without building a sparse matrix."""
    indptr, indices, values = features(texts)
    rows = np.repeat(np.arange(len(texts)), np.diff(indptr))
    contrib = weights[indices].astype(np.float64) * values
    return np.bincount(rows, weights=contrib, minlength=len(texts)) + bias

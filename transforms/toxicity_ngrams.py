"""Hashed n-gram features for the fast built-in toxicity model (`toxicity.builtin_model: fast`).

Word unigrams and bigrams plus character 3-5-grams inside words (which catch spelling games such
as "f*ckin" or "idiooot"), hashed with xxh32 into 2^18 buckets (the hashing trick of Weinberger
et al. 2009: no vocabulary to ship), log-scaled counts, L2-normalised per text. A logistic
regression over them (trained by scripts/train_toxicity.py --kind fast) is about a hundred times
cheaper than the e5 encoder and needs nothing but numpy and xxhash; it is also weaker, mostly
across languages (bench/bench_toxicity.py measures both).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import xxhash

BUCKETS = 1 << 18
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def ngram_buckets(text: str) -> dict[int, int]:
    """Bucket -> count of the hashed n-grams of one text."""
    words = _TOKEN.findall(text.lower())
    grams = [f"w:{w}" for w in words]
    grams += [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    for w in words:
        if len(w) < 3 or not w[0].isalnum():
            continue
        padded = f"<{w}>"
        for n in (3, 4, 5):
            grams += [f"c:{padded[i:i + n]}" for i in range(len(padded) - n + 1)]
    counts: dict[int, int] = {}
    for g in grams:
        bucket = xxhash.xxh32_intdigest(g.encode("utf-8")) & (BUCKETS - 1)
        counts[bucket] = counts.get(bucket, 0) + 1
    return counts


def features(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR parts (indptr, indices, values) of the (len(texts), BUCKETS) feature matrix."""
    indptr, indices, values = [0], [], []
    for text in texts:
        counts = ngram_buckets(text)
        v = np.log1p(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
        norm = np.linalg.norm(v)
        indices.extend(counts.keys())
        values.extend(v / norm if norm else v)
        indptr.append(len(indices))
    return np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int64), np.array(values, dtype=np.float32)


def linear_scores(texts: Sequence[str], weights: np.ndarray, bias: float) -> np.ndarray:
    """weights . features(text) + bias for each text, without building a sparse matrix."""
    indptr, indices, values = features(texts)
    rows = np.repeat(np.arange(len(texts)), np.diff(indptr))
    contrib = weights[indices].astype(np.float64) * values
    return np.bincount(rows, weights=contrib, minlength=len(texts)) + bias

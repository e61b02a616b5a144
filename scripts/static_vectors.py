"""Static word vectors (an experiment for the toxicity first stage): multilingual-e5-small distilled into a table.

Model2vec's idea (Tulkens and van Dongen 2024): embed every word of a vocabulary once with the
sentence encoder, keep the vectors (PCA-reduced, float16), and represent a text by the weighted
mean of its words' vectors. Each word's weight is SIF's a / (a + p(word)) (Arora et al. 2017), so
frequent function words count little. A text costs a tokenisation and a few table look-ups, like
the hashed n-grams (toxicity_ngrams.py), but the vectors live in e5's multilingual space: a head
fitted on English labels was to score German words it never saw labelled; measured, it hardly
does, so nothing here is shipped (transforms/resources/TOXICITY.md, "A static multilingual first
stage"). The table is built by scripts/build_static_vectors.py; bench/bench_toxicity_first_stage.py
measures heads on it.
Words outside the table are skipped; a text with no known word gets the zero vector.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

STATIC = "static_e5_words"
"""The features' name in a table's and a head's metadata."""
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
# Chinese and Japanese are written without spaces: each of their characters is a word here (the
# table holds the single-character words of wordfreq's lists), every other \w+ run is one word.
_WORD = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+", re.UNICODE)


def words_of(text: str) -> list[str]:
    """The lower-cased words of a text (\\w+ runs; each CJK character alone), as the table is keyed."""
    return _WORD.findall(text.lower())


def save_table(path: Path, words: Sequence[str], vectors: np.ndarray, weights: np.ndarray, meta: dict) -> None:
    """Writes the table: words (newline-joined), vectors (n, dims) and SIF weights (n,) as float16."""
    if any("\n" in w for w in words) or len(words) != len(vectors) or len(words) != len(weights):
        raise ValueError("save_table: one vector and one weight per word, no newline in a word")
    np.savez_compressed(path, words=np.array("\n".join(words)), vectors=vectors.astype(np.float16),
                        weights=weights.astype(np.float16), meta=np.array(json.dumps(meta, sort_keys=True)))


class StaticVectors:
    """A loaded table; `features(texts)` is the (n, dims) float32 matrix of the texts' vectors."""

    def __init__(self, path: Path):
        with np.load(path, allow_pickle=False) as f:
            words = str(f["words"]).split("\n")
            vectors, weights = f["vectors"].astype(np.float32), f["weights"].astype(np.float32)
            self.meta = json.loads(str(f["meta"]))
        self.index = {w: i for i, w in enumerate(words)}
        # One extra all-zero row for unknown words keeps the look-up a single fancy index.
        self.weighted = np.vstack([vectors * weights[:, None], np.zeros((1, vectors.shape[1]), np.float32)])
        self.weights = np.r_[weights, 0.0].astype(np.float32)
        self.dims = vectors.shape[1]

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's SIF-weighted mean word vector, L2-normalised (zeros when no word is known)."""
        unknown = len(self.weights) - 1
        ids = [[self.index.get(w, unknown) for w in words_of(t)] for t in texts]
        lengths = np.array([len(i) for i in ids], dtype=np.int64)
        flat = np.fromiter((i for row in ids for i in row), dtype=np.int64, count=int(lengths.sum()))
        sums = np.zeros((len(texts), self.dims), dtype=np.float32)
        filled = lengths > 0
        if filled.any():     # reduceat sums each text's run of rows (empty texts have none)
            starts = (np.cumsum(lengths) - lengths)[filled]
            sums[filled] = np.add.reduceat(self.weighted[flat], starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return sums / np.where(norms > 0, norms, 1.0)

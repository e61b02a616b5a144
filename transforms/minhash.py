"""MinHash signatures of word-shingle sets, LSH band keys, and the banding maths.

A document's signature is, for each of `num_perm` random permutations of 64-bit shingle hashes,
the smallest permuted value (Broder 1997). Two documents agree on one value with probability
equal to the Jaccard similarity of their shingle sets; LSH cuts the signature into `bands` bands
of `rows` values, and two documents become candidates when any band is equal, which happens with
probability `1 - (1 - s**rows)**bands` (the S-curve; Leskovec, Rajaraman, Ullman, "Mining of
Massive Datasets", ch. 3). FineWeb's defaults: 112 permutations as 14 bands of 8 rows.

datasketch is the reference. Its `MinHash(scheme="affine64")` pre-mixes each input hash with the
64-bit MurmurHash3 finalizer and applies `a * h + b mod 2**64` per permutation, with `a`, `b`
drawn from `numpy.random.RandomState(seed)`; we take the permutations from datasketch itself and
give it our 64-bit shingle hash (`ShingleHash`, seeded xxh3-64) as its `hashfunc`. `MinHasher`
computes the same values for a whole batch of documents with a few numpy operations instead of
several numpy calls per shingle; tests check that its signatures are identical to datasketch's.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import xxhash
from datasketch import MinHash, MinHashLSH

from tokenmill.transforms.dedup_text import word_bytes, words

MAX_HASH = np.uint64((1 << 64) - 1)
"""The value of an empty signature (datasketch's initial value for affine64)."""
_FMIX64 = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(33), np.uint64(0xC4CEB9FE1A85EC53),
           np.uint64(33))
CHUNK_ROWS = 2048
"""Shingles per vectorised step: the work array is CHUNK_ROWS x num_perm uint64 (1.8 MiB at 112, cache-sized)."""


_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _position_multipliers(ngram: int) -> np.ndarray:
    # One odd 64-bit multiplier per position in the shingle, so that word order matters.
    return np.array([(_GOLDEN * (2 * j + 1)) & _MASK64 | 1 for j in range(ngram)], dtype=np.uint64)


class ShingleHash:
    """The 64-bit hash of a shingle (a tuple of word bytes), given to datasketch as its `hashfunc`.

    Each word is hashed once with seeded xxh3-64; a shingle's hash is the sum of its words' hashes
    times per-position odd multipliers, mod 2**64. Sums of independent uniform 64-bit values are
    uniform, and this form lets `MinHasher` hash every word of a document once and build all its
    shingle hashes with `ngram` vector operations instead of one string join and hash per shingle.
    """

    def __init__(self, seed: int, ngram: int):
        self.seed, self.ngram = seed, ngram
        self._multipliers = [int(m) for m in _position_multipliers(ngram)]

    def __call__(self, shingle: tuple[bytes, ...]) -> int:
        acc = 0
        for word, mult in zip(shingle, self._multipliers):
            acc += xxhash.xxh3_64_intdigest(word, seed=self.seed) * mult
        return acc & _MASK64


def shingle_tuples(text: str, ngram: int, max_chars: int = 0) -> list[tuple[bytes, ...]]:
    """The document's shingles as word tuples (the reference form), capped at `max_chars` (0 = none):
    every run of `ngram` words, or all words as one shingle when there are fewer."""
    capped = text[:max_chars] if max_chars else text
    tokens = [w.encode("utf-8") for w in words(capped)]
    if not tokens:
        return []
    if len(tokens) < ngram:
        return [tuple(tokens)]
    return list(zip(*(tokens[i:] for i in range(ngram))))


@functools.lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine64 permutation parameters (a odd, b), shape (num_perm,) uint64 each."""
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine64").permutations
    a, b = np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, the bijection datasketch applies before its permutations."""
    s1, m1, s2, m2, s3 = _FMIX64
    values = values ^ (values >> s1)
    values = values * m1
    values = values ^ (values >> s2)
    values = values * m2
    return values ^ (values >> s3)


class MinHasher:
    """Vectorised MinHash over batches of documents, identical to datasketch's affine64 MinHash."""

    def __init__(self, num_perm: int = 112, seed: int = 1, ngram: int = 5, max_chars: int = 0):
        self.num_perm, self.seed, self.ngram, self.max_chars = num_perm, seed, ngram, max_chars
        self._a, self._b = permutations(num_perm, seed)
        self._multipliers = _position_multipliers(ngram)
        self._word_hash = functools.partial(xxhash.xxh3_64_intdigest, seed=seed)

    def shingle_hashes(self, text: str) -> np.ndarray:
        """`ShingleHash` of each of the document's shingles, shape (n_shingles,) uint64 (may repeat)."""
        capped = text[:self.max_chars] if self.max_chars else text
        tokens = word_bytes(capped)
        hw = np.fromiter(map(self._word_hash, tokens), dtype=np.uint64, count=len(tokens))
        n, mult = self.ngram, self._multipliers
        if len(hw) < n:
            return (hw * mult[: len(hw)]).sum(keepdims=True, dtype=np.uint64) if len(hw) else hw
        count = len(hw) - n + 1
        out = hw[:count] * mult[0]                      # uint64 products wrap mod 2**64
        for j in range(1, n):
            out += hw[j:j + count] * mult[j]
        return out

    def signatures(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(signatures, shingle counts): shape (n_docs, num_perm) uint64 and (n_docs,) int64.
        A document without shingles has the empty signature (all MAX_HASH) and count 0."""
        return self.signatures_of_hashes([self.shingle_hashes(t) for t in texts])

    def signatures_of_hashes(self, hashes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        counts = np.array([len(h) for h in hashes], dtype=np.int64)
        out = np.full((len(hashes), self.num_perm), MAX_HASH, dtype=np.uint64)
        chunk: list[int] = []
        rows = 0
        for i, h in enumerate(hashes):
            if not len(h):
                continue
            if len(h) > CHUNK_ROWS:          # a long document alone, in row slices
                for start in range(0, len(h), CHUNK_ROWS):
                    part = self._permuted_min(h[start:start + CHUNK_ROWS], np.zeros(1, dtype=np.intp))
                    np.minimum(out[i], part[0], out=out[i])
                continue
            if rows + len(h) > CHUNK_ROWS:
                self._flush(hashes, chunk, out)
                chunk, rows = [], 0
            chunk.append(i)
            rows += len(h)
        self._flush(hashes, chunk, out)
        return out, counts

    def _flush(self, hashes: Sequence[np.ndarray], chunk: list[int], out: np.ndarray) -> None:
        if not chunk:
            return
        lengths = np.array([len(hashes[i]) for i in chunk])
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.intp)
        out[chunk] = self._permuted_min(np.concatenate([hashes[i] for i in chunk]), starts)

    def _permuted_min(self, hv: np.ndarray, starts: np.ndarray) -> np.ndarray:
        # hv: (rows,) uint64 shingle hashes of consecutive documents starting at `starts`.
        mixed = fmix64(hv)
        work = np.multiply(mixed[:, None], self._a[None, :])     # (rows, num_perm), wraps mod 2**64
        np.add(work, self._b[None, :], out=work)
        return np.minimum.reduceat(work, starts, axis=0)          # (len(starts), num_perm)


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One key per band: the band index (2 bytes) plus a 128-bit hash of the band's `rows` values.
    Equal keys mean (up to a 2**-128 collision) equal bands in the same position."""
    sig = np.ascontiguousarray(signature[: bands * rows]).reshape(bands, rows)
    return [i.to_bytes(2, "big") + xxhash.xxh3_128_digest(sig[i].tobytes()) for i in range(bands)]


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Fraction of equal values: datasketch's `MinHash.jaccard`."""
    return float(np.count_nonzero(sig_a == sig_b)) / float(len(sig_a))


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """The S-curve: probability that two documents with Jaccard `similarity` share a band."""
    return 1.0 - (1.0 - similarity ** rows) ** bands


def s_curve_threshold(bands: int, rows: int) -> float:
    """The similarity where the S-curve is steepest, about (1/bands)**(1/rows): 0.719 for 14 x 8."""
    return (1.0 / bands) ** (1.0 / rows)


@functools.lru_cache(maxsize=32)
def optimal_bands_rows(threshold: float, num_perm: int, fp_weight: float = 0.5,
                       fn_weight: float = 0.5) -> tuple[int, int]:
    """datasketch's choice of (bands, rows) for a threshold: it minimises the weighted false positive
    and false negative areas under the S-curve (MinHashLSH's constructor does the optimisation)."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(fp_weight, fn_weight))
    return int(lsh.b), int(lsh.r)


def datasketch_signature(text: str, num_perm: int = 112, seed: int = 1, ngram: int = 5,
                         max_chars: int = 0) -> np.ndarray:
    """The reference: datasketch's MinHash of the document's shingles (update_batch)."""
    m = MinHash(num_perm=num_perm, seed=seed, scheme="affine64", hashfunc=ShingleHash(seed, ngram))
    m.update_batch(shingle_tuples(text, ngram, max_chars))
    return np.asarray(m.hashvalues, dtype=np.uint64)

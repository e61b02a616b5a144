"""MinHash signatures: identical to datasketch on the same seed and permutations; banding maths."""

import json
import random
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash

from tokenmill.transforms import minhash
from tokenmill.transforms.minhash import (MAX_HASH, MinHasher, ShingleHash, band_keys, candidate_probability,
                                          datasketch_signature, estimated_jaccard, permutations,
                                          s_curve_threshold, shingle_tuples)

FIXTURES = Path(__file__).parent.parent / "data"


def _texts() -> list[str]:
    paragraphs = json.loads((FIXTURES / "udhr_paragraphs.json").read_text(encoding="utf-8"))["paragraphs"]
    rng = random.Random(1)
    vocab = [a + b + c for a in "bcdfgklmnp" for b in "aeiou" for c in "rstvz"]   # letters: digits fold to 0
    long_doc = " ".join(rng.choice(vocab) for _ in range(3 * minhash.CHUNK_ROWS + 17))  # row-sliced path
    edge_cases = ["", "!!!", "one", "one two three four", "one two three four five",
                  "one two three four five six", "Don\u2019t  stop \u2014 now, 2024!"]
    return [t for texts in paragraphs.values() for t in texts] + edge_cases + [long_doc]


def _datasketch_update_loop(text: str, num_perm: int, seed: int, ngram: int, max_chars: int = 0) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, scheme="affine64", hashfunc=ShingleHash(seed, ngram))
    for shingle in shingle_tuples(text, ngram, max_chars):
        m.update(shingle)
    return np.asarray(m.hashvalues, dtype=np.uint64)


@pytest.mark.parametrize("num_perm, seed, ngram, max_chars", [(112, 1, 5, 0), (64, 7, 3, 0), (112, 1, 5, 300)])
def test_vectorised_signatures_equal_datasketch(num_perm, seed, ngram, max_chars):
    texts = _texts()
    sigs, counts = MinHasher(num_perm, seed, ngram, max_chars).signatures(texts)
    for text, sig, count in zip(texts, sigs, counts):
        assert np.array_equal(sig, datasketch_signature(text, num_perm, seed, ngram, max_chars))
        assert np.array_equal(sig, _datasketch_update_loop(text, num_perm, seed, ngram, max_chars))
        assert count == len(shingle_tuples(text, ngram, max_chars))


def test_signatures_do_not_depend_on_batch_composition():
    texts = _texts()
    hasher = MinHasher()
    together, _ = hasher.signatures(texts)
    alone = np.stack([hasher.signatures([t])[0][0] for t in texts])
    assert np.array_equal(together, alone)


def test_permutations_are_datasketchs():
    a, b = permutations(112, 1)
    ref = MinHash(num_perm=112, seed=1, scheme="affine64").permutations
    assert np.array_equal(a, ref[0]) and np.array_equal(b, ref[1])
    assert np.all(a & np.uint64(1) == 1)              # odd multipliers: bijective permutations


def test_empty_document_has_the_empty_signature():
    sigs, counts = MinHasher().signatures(["", "..."])
    assert counts.tolist() == [0, 0] and np.all(sigs == MAX_HASH)


def test_shingle_hash_depends_on_word_order_and_seed():
    h = ShingleHash(1, 3)
    assert h((b"a", b"b", b"c")) != h((b"c", b"b", b"a"))
    assert h((b"a", b"b", b"c")) != ShingleHash(2, 3)((b"a", b"b", b"c"))
    assert 0 <= h((b"a", b"b", b"c")) < 2 ** 64


def test_estimated_jaccard_tracks_the_exact_jaccard():
    rng = random.Random(3)
    vocab = [a + b + c + d for a in "bcdfgklmnp" for b in "aeiou" for c in "rstvz" for d in "aeiou"]
    base = [rng.choice(vocab) for _ in range(400)]
    edited = base[:300] + [rng.choice(vocab) for _ in range(100)]
    a, b = set(shingle_tuples(" ".join(base), 5)), set(shingle_tuples(" ".join(edited), 5))
    exact = len(a & b) / len(a | b)
    assert 0.5 < exact < 0.8
    sigs, _ = MinHasher(num_perm=256).signatures([" ".join(base), " ".join(edited)])
    # standard error sqrt(J(1-J)/256) is about 0.03; 4 sigma
    assert abs(estimated_jaccard(sigs[0], sigs[1]) - exact) < 0.12


def test_band_keys():
    sig = np.arange(112, dtype=np.uint64)
    other = sig.copy()
    other[20] += 1                                    # changes band 2 (rows 16..23) only
    keys, other_keys = band_keys(sig, 14, 8), band_keys(other, 14, 8)
    assert len(keys) == 14 and len(set(keys)) == 14
    assert [k == o for k, o in zip(keys, other_keys)] == [i != 2 for i in range(14)]
    assert keys[0][:2] == b"\x00\x00" and keys[13][:2] == b"\x00\x0d"   # band index first
    assert band_keys(np.zeros(112, np.uint64), 14, 8)[0] != band_keys(np.zeros(112, np.uint64), 14, 8)[1]


def test_s_curve():
    assert s_curve_threshold(14, 8) == pytest.approx(0.7190, abs=1e-4)
    assert candidate_probability(0.8, 14, 8) == pytest.approx(0.9235, abs=1e-4)
    assert candidate_probability(0.5, 14, 8) == pytest.approx(0.0533, abs=1e-4)
    assert candidate_probability(0.0, 14, 8) == 0.0 and candidate_probability(1.0, 14, 8) == 1.0

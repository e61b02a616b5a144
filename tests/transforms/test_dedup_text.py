"""Normalisation, shingles, keys and survivor ranks shared by the dedup stages."""

import json
import random
from pathlib import Path

import pytest

from tokenmill.transforms.dedup_text import (exact_key, normalized_text, rank_id, shingles, survivor_rank,
                                             url_key, word_bytes, words)
from tokenmill.transforms.document import Document

FIXTURES = Path(__file__).parent.parent / "data"


@pytest.mark.parametrize("text, expected", [
    ("Hello, World!", ["hello", "world"]),
    ("In 2024 we had 3,000 users", ["in", "0", "we", "had", "0", "0", "users"]),   # digit runs fold to 0
    ("v2 and v10", ["v0", "and", "v0"]),
    ("Don\u2019t  stop\u2014now", ["don", "t", "stop", "now"]),                   # curly quote, em dash
    ("snake_case-and.dots", ["snake", "case", "and", "dots"]),                    # underscore separates
    ("caf\u00e9 CAF\u00c9", ["caf\u00e9", "caf\u00e9"]),                            # lowercase beyond ASCII
    ("nam\u0915\u094d\u0937\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",           # marks stay in words
     ["nam\u0915\u094d\u0937\u0947", "\u0926\u0941\u0928\u093f\u092f\u093e"]),
    ("\u0663\u0664 apples", ["0", "apples"]),                                     # Arabic-Indic digits
    ("\u4eba\u4eba\u751f\u800c\u81ea\u7531\uff0c\u5728\u5c0a\u4e25",             # CJK: runs between punctuation
     ["\u4eba\u4eba\u751f\u800c\u81ea\u7531", "\u5728\u5c0a\u4e25"]),
    ("  \n\t ... !!! ", []),
])
def test_words(text, expected):
    assert words(text) == expected


ALPHABET = ("aZ09 _-.,;!?'\"\n\t" "\u2019\u201c\u201d\u2014\u2026\u00a0" "\u00e9\u00c9\u0301\u0915\u094d"
            "\u0663\u4eba\uff0c\u0416\u0436\u212a\u0130\u00df\u00b2\u2167")


def test_word_bytes_agrees_with_words_on_random_mixes():
    # The fast path must equal the definition on every input: ASCII pieces, pieces with curly
    # quotes, combining marks, Kelvin sign (lowercases to ASCII k), dotted I, superscripts, ...
    rng = random.Random(4)
    for _ in range(3000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 60)))
        assert word_bytes(text) == [w.encode("utf-8") for w in words(text)], repr(text)


def test_word_bytes_agrees_with_words_on_real_text():
    paragraphs = json.loads((FIXTURES / "udhr_paragraphs.json").read_text(encoding="utf-8"))["paragraphs"]
    for texts in paragraphs.values():
        for text in texts:
            assert word_bytes(text) == [w.encode("utf-8") for w in words(text)]


@pytest.mark.parametrize("a, b, same", [
    ("The cat sat.", "the  CAT sat", True),
    ("Posted 12 May 2021", "Posted 3 May 1999", True),          # numbers normalised
    ("The cat sat.", "The cat sat down.", False),
    ("!!!", "???", False),                                        # no words: compared raw
    ("!!!", "  !!!\n", True),
    ("", "   ", True),
])
def test_exact_key(a, b, same):
    assert (exact_key(a) == exact_key(b)) is same


def test_normalized_text():
    assert normalized_text("Hello,   WORLD 42!") == "hello world 0"


@pytest.mark.parametrize("url, expected", [
    ("HTTP://Example.COM/Path?q=1#top", "http://example.com/Path?q=1"),
    ("https://example.com/", "https://example.com"),
    ("https://example.com", "https://example.com"),
    ("", ""),
])
def test_url_key(url, expected):
    assert url_key(url) == expected


@pytest.mark.parametrize("tokens, n, expected", [
    ([], 5, []),
    (["a", "b"], 5, ["a b"]),                                     # shorter than n: one shingle
    (["a", "b", "c"], 3, ["a b c"]),
    (["a", "b", "c", "d"], 3, ["a b c", "b c d"]),
    ([b"a", b"b", b"c"], 2, [b"a b", b"b c"]),
])
def test_shingles(tokens, n, expected):
    assert list(shingles(tokens, n)) == expected


def test_survivor_rank_orders_by_id_hash_and_round_trips_the_id():
    docs = [Document(id=f"doc-{i}", text="x" * i) for i in range(20)]
    ranks = [survivor_rank(d) for d in docs]
    assert [rank_id(r) for r in ranks] == [d.id for d in docs]
    assert sorted(ranks) != ranks                     # the order is the hash, not the id or the input order
    assert survivor_rank(Document(id="doc-3", text="other")) == ranks[3]


def test_longest_priority_prefers_longer_texts():
    short, long_ = Document(id="a", text="short"), Document(id="b", text="a much longer text")
    assert survivor_rank(long_, "longest") < survivor_rank(short, "longest")
    tie = Document(id="c", text="x" * len(short.text))
    assert (survivor_rank(short, "longest") < survivor_rank(tie, "longest")) == \
        (survivor_rank(short) < survivor_rank(tie))   # equal lengths fall back to the id hash

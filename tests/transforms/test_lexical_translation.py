"""The word-by-word English -> German translation that adds German copies of the toxicity training
texts (scripts/lexical_translation.py), on real lines of the Ding dictionary (tests/data/SOURCES.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from lexical_translation import load_lexicon, translate  # noqa: E402
from train_toxicity import text_sources, translated, with_german_copies  # noqa: E402

DING = Path(__file__).resolve().parents[1] / "data" / "ding-1.9__de-en_excerpt.txt"


def test_lexicon_pairs_aligned_sub_entries_without_annotations():
    lexicon = load_lexicon(DING)
    terms, p = lexicon["scum"]
    assert terms == ["abschaum"] and p.tolist() == [1.0]
    assert set(lexicon["hate"][0]) == {"hassen", "nicht mögen"}          # "to hate": the verb's `to` dropped
    assert set(lexicon["stupid"][0]) == {"dumm", "dämlich", "blöd", "stupid"}   # [geh.], {adj}, (Sache) gone
    assert "hating" in lexicon and lexicon["hating"][0] == ["hassend"]     # the second sub-entry, aligned
    assert {"arschloch", "wichser", "blöde sau"} <= set(lexicon["asshole"][0])
    assert "the scum of the earth" not in lexicon                           # English phrases are not keys
    assert all(abs(p.sum() - 1) < 1e-9 for _, p in lexicon.values())


def test_translation_replaces_known_words_drops_function_words_keeps_the_rest():
    lexicon = load_lexicon(DING)
    rng = np.random.default_rng(0)
    assert translate("You are SCUM, @bob!", lexicon, rng) == "abschaum, @bob!"   # "are" is not the unit Ar
    out = translate("I hate my stupid neighbour", lexicon, rng)
    assert out.split()[0] in {"hassen", "nicht"} and out.split()[-1].startswith(("nachbar", "grundstücksnachbar"))
    assert translate("", lexicon, rng) == ""


def test_translation_is_seeded():
    lexicon = load_lexicon(DING)
    texts = ["stupid asshole", "we hate the scum"] * 5
    first = [translate(t, lexicon, np.random.default_rng(7)) for t in texts]
    assert first == [translate(t, lexicon, np.random.default_rng(7)) for t in texts]


def test_german_copies_keep_labels_and_their_source():
    texts, labels = ["stupid scum", "a kind neighbour", "hate"], np.array([1, 0, 1])
    counts = {"davidson_hate": 1, "clean_boolq": 1, "realtoxicityprompts": 1}
    texts2, labels2, counts2 = with_german_copies(texts, labels, counts, DING, seed=0)
    assert texts2[:3] == texts and len(texts2) == 6 and labels2.tolist() == [1, 0, 1, 1, 0, 1]
    assert texts2[3] in {"dumm abschaum", "dämlich abschaum", "blöd abschaum", "stupid abschaum"}
    # leaving a source out leaves out its translation too; the translations are marked
    assert text_sources(counts2) == ["davidson", "boolq", "rtp"] * 2
    assert translated(counts2).tolist() == [False] * 3 + [True] * 3

"""Gopher quality and repetition rules: one kept and one dropped text per rule, exact reasons."""

from __future__ import annotations

import pytest

from tokenmill.transforms.document import DropReason
from tokenmill.transforms.quality.gopher import (GopherQualityConfig, GopherRepetitionConfig, dup_ngram_chars,
                                                 gopher_quality, gopher_repetition, top_ngram_chars)
from tokenmill.transforms.quality.text import words_of

# Eight lines of ordinary prose: about 110 words, every rule passes.
PROSE = "\n".join([
    "The river runs past the old mill and the village that grew up around it.",
    "Farmers brought their grain to be ground there for more than two hundred years.",
    "When the railway arrived, the mill closed and the building stood empty for decades.",
    "A group of volunteers restored the wheel with help from the local museum.",
    "Today visitors can watch the machinery turn and buy flour made on site.",
    "The museum also keeps records of the families who worked at the mill.",
    "Children from nearby schools come every spring to learn how water power works.",
    "Most of them have never seen a machine that runs without any electricity.",
])
ZH = ("人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。"
      "人人有资格享有本宣言所载的一切权利和自由，不分种族、肤色、性别、语言、宗教、政治或其他见解、"
      "国籍或社会出身、财产、出生或其他身分等任何区别。人人有权享有生命、自由和人身安全。"
      "任何人不得使为奴隶或奴役；一切形式的奴隶制度和奴隶买卖，均应予以禁止。")


def quality(text: str, lang: str = "en", cfg: GopherQualityConfig = GopherQualityConfig()):
    drop = gopher_quality(text, words_of(text, lang), lang, cfg)
    return drop.reason if drop else None


def lines(*items: str) -> str:
    return "\n".join(items)


LONG_WORDS = " ".join(["internationalization", "characterization", "misunderstanding"] * 20)
NUMBERS = PROSE + "\n" + " ".join(str(1000 + i) for i in range(40))
NO_STOP_WORDS = " ".join(["river", "mill", "village", "farmers", "grain", "railway", "building", "museum",
                          "visitors", "machinery", "flour", "families"] * 5)
BULLETS = lines(*[f"• Item {i}: the mill keeps a record of this part of its history." for i in range(10)])
ELLIPSIS_LINES = lines(*[f"Line {i} of the story about the mill, its wheel and its people goes on"
                         + (" ..." if i < 4 else ".") for i in range(10)])


@pytest.mark.parametrize("text, expected", [
    (PROSE, None),
    ("The river runs past the old mill and the village.", DropReason.GOPHER_TOO_FEW_WORDS),
    ("word " * 100_001, DropReason.GOPHER_TOO_MANY_WORDS),
    (" ".join(["a", "of", "to", "in", "it", "is", "be", "as"] * 10), DropReason.GOPHER_SHORT_WORDS),
    (LONG_WORDS, DropReason.GOPHER_LONG_WORDS),
    (PROSE + " #mill" * 15, DropReason.GOPHER_HASH_RATIO),
    (PROSE + " ..." * 12, DropReason.GOPHER_ELLIPSIS_RATIO),
    (BULLETS, DropReason.GOPHER_BULLET_LINES),
    (ELLIPSIS_LINES, DropReason.GOPHER_ELLIPSIS_LINES),
    (NUMBERS, DropReason.GOPHER_FEW_ALPHA_WORDS),
    (NO_STOP_WORDS, DropReason.GOPHER_FEW_STOP_WORDS),
])
def test_gopher_quality_rules(text, expected):
    assert quality(text) is expected


def test_rules_keep_texts_just_inside_each_threshold():
    assert quality(lines(*BULLETS.splitlines()[:9], PROSE)) is None            # 9 of 17 lines bulleted
    assert quality(PROSE + " #mill" * 5) is None
    assert quality(lines(*ELLIPSIS_LINES.splitlines()[:2], *ELLIPSIS_LINES.splitlines()[4:])) is None


def test_thresholds_come_from_config():
    assert quality(PROSE, cfg=GopherQualityConfig(min_words=200)) is DropReason.GOPHER_TOO_FEW_WORDS
    assert quality(NO_STOP_WORDS, cfg=GopherQualityConfig(min_stop_words=0)) is None


def test_stop_words_are_per_language():
    german = ("Der Fluss fließt an der alten Mühle vorbei, und das Dorf ist um sie herum gewachsen. " * 5)
    assert quality(german, "de") is None
    # Without a German list, English stop words would be missing; a language without a list skips the rule.
    assert quality(german, "xx") is None
    assert quality(german, "") is None


def test_chinese_is_segmented_not_split_on_spaces():
    words = words_of(ZH, "zh").words
    assert len(words) > 60 and "自由" in words and "权利" in words
    assert quality(ZH, "zh") is None
    # Whitespace splitting makes the whole text one enormous "word".
    assert quality(ZH, "") is DropReason.GOPHER_TOO_FEW_WORDS


def unique_word(i: int) -> str:
    letters = ""
    for _ in range(5):
        letters += "abcdefghijklmnopqrstuvwxyz"[i % 26]
        i //= 26
    return "q" + letters


SPAN = ["alpha", "bravo", "charl", "delta", "echoo", "foxtr", "golfo", "hotel", "india", "julie"]


def repeated(n: int, times: int, gap: int) -> str:
    """The first `n` words of SPAN `times` times, with `gap` unique words around each."""
    words, c = [], 0
    for _ in range(times):
        words += [unique_word(c + j) for j in range(gap)] + SPAN[:n]
        c += gap
    return " ".join(words + [unique_word(c + j) for j in range(gap)])


def repetition(text: str):
    drop = gopher_repetition(text, words_of(text, "en"), GopherRepetitionConfig())
    return drop.reason if drop else None


PARA = "The river runs past the old mill and the village that grew up around it."
LONG_LINE = "A very long line that repeats itself and so takes a large share of the characters of the page."


@pytest.mark.parametrize("text, expected", [
    (PROSE, None),
    ("\n\n".join([PARA, "Another paragraph.", PARA, PARA]), DropReason.GOPHER_DUP_PARAGRAPHS),
    ("\n\n".join([LONG_LINE] + [f"Short paragraph {i}." for i in range(8)] + [LONG_LINE]),
     DropReason.GOPHER_DUP_PARAGRAPH_CHARS),
    (lines(PARA, "Another line.", PARA, PARA), DropReason.GOPHER_DUP_LINES),
    (lines(LONG_LINE, *[f"Short line {i}." for i in range(8)], LONG_LINE), DropReason.GOPHER_DUP_LINE_CHARS),
    # (n, repeats, gap) found so that exactly this rule is the first to fail; 3x the gap passes all.
    (repeated(2, 2, 3), DropReason.GOPHER_TOP_2GRAM),
    (repeated(3, 2, 4), DropReason.GOPHER_TOP_3GRAM),
    (repeated(4, 2, 7), DropReason.GOPHER_TOP_4GRAM),
    (repeated(5, 5, 14), DropReason.GOPHER_DUP_5GRAM),
    (repeated(6, 3, 12), DropReason.GOPHER_DUP_6GRAM),
    (repeated(7, 2, 10), DropReason.GOPHER_DUP_7GRAM),
    (repeated(8, 2, 11), DropReason.GOPHER_DUP_8GRAM),
    (repeated(9, 2, 14), DropReason.GOPHER_DUP_9GRAM),
    (repeated(10, 2, 18), DropReason.GOPHER_DUP_10GRAM),
])
def test_gopher_repetition_rules(text, expected):
    assert repetition(text) is expected


@pytest.mark.parametrize("n, times, gap", [(2, 2, 3), (3, 2, 4), (4, 2, 7), (5, 5, 14), (6, 3, 12), (7, 2, 10),
                                           (8, 2, 11), (9, 2, 14), (10, 2, 18)])
def test_the_same_repetition_diluted_is_kept(n, times, gap):
    assert repetition(repeated(n, times, 3 * gap)) is None


def test_ngram_character_counts():
    words = tuple("a b a b a b".split())
    assert top_ngram_chars(words, 2) == 3 * len("a b")
    assert dup_ngram_chars(tuple("x y z x y z".split()), 3) == len("x y z")
    # Segmented languages glue words without spaces, so fractions stay within 0..1.
    assert top_ngram_chars(("自由", "权利", "自由", "权利"), 2, "") == 2 * len("自由权利")
    zh_repeated = ZH * 3
    drop = gopher_repetition(zh_repeated, words_of(zh_repeated, "zh"), GopherRepetitionConfig())
    assert drop is not None and drop.reason is DropReason.GOPHER_DUP_5GRAM
    assert gopher_repetition(ZH, words_of(ZH, "zh"), GopherRepetitionConfig()) is None


def test_repetition_config_checks_tuple_lengths():
    with pytest.raises(ValueError):
        GopherRepetitionConfig(max_top_ngram_chars=(0.2, 0.18))

"""C4 cleaning and FineWeb line rules: one kept and one dropped text per rule, exact reasons;
the C4 line rules, which remove lines instead of pages, are checked on the text they leave."""

from __future__ import annotations

import pytest

from tokenmill.transforms.document import Document, Drop, DropReason
from tokenmill.transforms.quality import QualityConfig, QualityStep, assess_quality
from tokenmill.transforms.quality.c4 import C4Config, c4_clean
from tokenmill.transforms.quality.fineweb import FineWebConfig, fineweb_quality
from tokenmill.transforms.quality.text import count_sentences, ends_sentence, words_of

SENTENCES = [
    "The river runs past the old mill and the village that grew up around it.",
    "Farmers brought their grain to be ground there for more than two hundred years.",
    "When the railway arrived, the mill closed and the building stood empty for decades.",
    "A group of volunteers restored the wheel with help from the local museum.",
    "Today visitors can watch the machinery turn and buy flour made on site.",
    "The museum also keeps records of the families who worked at the mill.",
]
PROSE = "\n".join(SENTENCES)


def c4(text: str, lang: str = "en", cfg: C4Config = C4Config()):
    return c4_clean(text, lang, cfg)


@pytest.mark.parametrize("text, expected", [
    (PROSE, None),
    (PROSE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", DropReason.C4_LOREM_IPSUM),
    (PROSE + "\nThe template prints {name} for each visitor of the page.", DropReason.C4_CURLY_BRACKET),
    ("\n".join(SENTENCES[:4]), DropReason.C4_TOO_FEW_SENTENCES),
])
def test_c4_page_rules(text, expected):
    result = c4(text)
    assert (result.drop.reason if result.drop else None) is expected


def test_c4_line_rules_remove_lines_and_keep_the_page():
    noisy = "\n".join([
        "Menu",                                                            # fewer than 3 words
        SENTENCES[0] + "[1]",                                              # citation mark cut out
        "Please enable JavaScript to view the comments below.",           # javascript
        *SENTENCES[1:],
        "This site uses cookies to improve your experience.",             # policy
        "Read our privacy policy and terms of use before you continue.",  # policy
        "A line with a " + "x" * 1001 + " word in the middle of it.",     # word over 1000 characters
    ])
    result = c4(noisy)
    assert result.drop is None and result.lines_removed == 5
    assert result.text == PROSE


def test_terminal_punctuation_rule_is_off_by_default_as_in_fineweb():
    with_heading = "A Short History Of The Mill\n" + PROSE
    assert c4(with_heading).text == with_heading
    strict = c4(with_heading, cfg=C4Config(drop_lines_without_terminal_punct=True))
    assert strict.text == PROSE and strict.lines_removed == 1
    ellipsis = c4(PROSE + "\nAnd then the story goes on and on ...", cfg=C4Config(drop_lines_without_terminal_punct=True))
    assert ellipsis.text == PROSE


def test_clean_lines_false_keeps_the_text():
    text = "Menu\n" + PROSE
    assert c4(text, cfg=C4Config(clean_lines=False)).text == text


def test_c4_counts_words_of_chinese_lines_with_a_segmenter():
    zh = "\n".join(["人人生而自由，在尊严和权利上一律平等。", "他们赋有理性和良心，并应以兄弟关系的精神相对待。",
                    "人人有权享有生命、自由和人身安全。", "任何人不得使为奴隶或奴役。", "法律之前人人平等。"])
    assert c4(zh, "zh").drop is None
    # Split on whitespace, every Chinese line is one word and is removed; nothing is left.
    assert c4(zh, "").drop.reason is DropReason.C4_TOO_FEW_SENTENCES


def fineweb(text: str, lang: str = "en"):
    drop = fineweb_quality(text, words_of(text, lang), FineWebConfig())
    return drop.reason if drop else None


LIST_LINES = "\n".join(f"Extraordinarily{i} longwinded{i} enumerations{i}." for i in range(12))


@pytest.mark.parametrize("text, expected", [
    (PROSE, None),
    ("\n".join(s.rstrip(".") for s in SENTENCES * 1), DropReason.FINEWEB_LINE_PUNCT),
    ("\n".join(SENTENCES[:3] + [f"Yes, item {i}." for i in range(7)]), DropReason.FINEWEB_SHORT_LINES),
    ("\n".join(SENTENCES + SENTENCES[:1]), DropReason.FINEWEB_DUP_LINE_CHARS),
    (LIST_LINES, DropReason.FINEWEB_LIST_RATIO),
])
def test_fineweb_rules(text, expected):
    assert fineweb(text) is expected


def test_fineweb_rules_keep_texts_inside_the_thresholds():
    # 2 of 6 lines unpunctuated (0.67 > 0.12), 4 of 10 lines short (0.4 < 0.67).
    assert fineweb("\n".join(SENTENCES[:4] + [s.rstrip(".") for s in SENTENCES[4:]])) is None
    assert fineweb("\n".join(SENTENCES + [f"Yes, item {i}." for i in range(4)])) is None
    # Chinese full stops count as terminal punctuation.
    assert fineweb("人人生而自由，在尊严和权利上一律平等，他们赋有理性和良心。\n"
                   "他们应以兄弟关系的精神相对待，人人有权享有生命、自由和人身安全。", "zh") is None


def test_sentence_helpers():
    assert count_sentences("One. Two! Three? Four") == 3
    assert count_sentences("人人生而自由。他们赋有理性和良心。") == 2
    assert count_sentences("No stop at all") == 1 and count_sentences("  ") == 0
    assert ends_sentence('He said "yes."') and not ends_sentence("and so on...") and not ends_sentence("Menu")


def test_segmenters_for_japanese_and_thai():
    ja = words_of("すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。", "ja").words
    th = words_of("มนุษย์ทั้งหลายเกิดมามีอิสระและเสมอภาคกันในเกียรติศักด์และสิทธิ", "th").words
    assert len(ja) >= 15 and "自由" in ja
    assert len(th) >= 8 and "มนุษย์" in th


def test_quality_stage_chains_the_rules_and_annotates():
    doc = Document(id="1", text="Menu\n" + PROSE, lang="en")
    kept = assess_quality(doc, QualityConfig())
    assert isinstance(kept, Document) and kept.text == PROSE and doc.text.startswith("Menu")
    assert kept.signals["c4_lines_removed"] == 1.0 and kept.signals["words"] > 50
    short = assess_quality(Document(id="2", text=SENTENCES[0], lang="en"), QualityConfig())
    assert isinstance(short, Drop) and short.reason is DropReason.GOPHER_TOO_FEW_WORDS
    assert short.annotated.text == SENTENCES[0] and short.annotated.signals["words"] == 15.0


def test_quality_stage_order_is_fineweb_order():
    # Fails both Gopher repetition (duplicate paragraphs) and FineWeb (duplicate lines): repetition names it.
    text = "\n\n".join(SENTENCES + SENTENCES[:3])
    assert QualityStep(QualityConfig())(Document(id="3", text=text, lang="en")).reason is \
        DropReason.GOPHER_DUP_PARAGRAPHS
    cfg = QualityConfig(gopher_repetition=QualityConfig().gopher_repetition.__class__(enabled=False))
    assert QualityStep(cfg)(Document(id="3", text=text, lang="en")).reason is DropReason.FINEWEB_DUP_LINE_CHARS

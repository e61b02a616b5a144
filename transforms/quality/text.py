"""Language-aware text units for the quality rules: words, lines, paragraphs, sentences.

Rules that count words must not split Chinese, Japanese or Thai on whitespace (those scripts
write no spaces between words, so a whole sentence would be one "word"). Those languages go
through a real segmenter: jieba for Chinese (Sun 2012-, dictionary + HMM), TinySegmenter for
Japanese (Hagiwara 2008, a compact learned model) and PyThaiNLP's `newmm` for Thai (maximal
matching over the bundled Thai dictionary), each loaded once per process on first use. Other
languages split on whitespace, as Gopher does (Rae et al. 2021, A.1.1). Punctuation and symbols
are stripped from both ends of a word, and tokens made only of them are symbols, not words
(datatrove likewise drops punctuation tokens before counting words).

Stop words per language come from `resources/stop_words.json` (English: Gopher's eight).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

import regex

_EDGE_SYMBOLS = regex.compile(r"^[\p{P}\p{S}]+|[\p{P}\p{S}]+$")
_SENTENCE_END = re.compile(r"[.!?]+(?=[\s\"'»”’)\]]|$)|[。！？｡।॥؟۔]+")
PARAGRAPH_BREAK = re.compile(r"\n{2,}")

# Line ends that count as the end of a sentence (C4's set, plus other scripts' full stops).
TERMINAL_PUNCTUATION = (".", "!", "?", '"', "'", "。", "！", "？", "｡", "।", "॥", "؟", "۔", "”", "»")
ELLIPSES = ("...", "…")

SEGMENTED_LANGUAGES = {"zh": "jieba", "wuu": "jieba", "yue": "jieba", "ja": "tinysegmenter", "th": "newmm"}
"""lid.176 labels whose text is segmented into words by a model instead of split on spaces."""


@dataclass(frozen=True)
class Words:
    """The words of a text and how to glue them back (for n-gram character lengths)."""

    words: tuple[str, ...]
    """Words with edge punctuation stripped; symbol-only tokens removed."""
    tokens: int
    """All tokens before symbols were removed (words + symbol tokens)."""
    separator: str
    """' ' for whitespace languages, '' for segmented ones."""


@functools.lru_cache(maxsize=None)
def _segmenter(name: str):
    if name == "jieba":
        import logging
        import jieba
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        return lambda text: jieba.lcut(text)
    if name == "tinysegmenter":
        import tinysegmenter
        return tinysegmenter.TinySegmenter().tokenize
    if name == "newmm":
        from pythainlp.tokenize import word_tokenize
        return lambda text: word_tokenize(text, engine="newmm", keep_whitespace=False)
    raise ValueError(f"unknown segmenter {name}")


def tokenize(text: str, lang: str = "") -> list[str]:
    """Raw tokens: segmenter output for zh/ja/th, whitespace-separated chunks otherwise."""
    engine = SEGMENTED_LANGUAGES.get(lang)
    if engine is None:
        return text.split()
    # Segment line by line: no word spans lines, and the C4 and FineWeb rules see the same lines
    # again after cleaning, so a per-line cache saves segmenting a page three times.
    return [t for line in text.splitlines() for t in _segment_line(engine, line)]


CACHED_LINE_CHARS = 2000
"""Lines up to this long are cached (at most 4096 of them, so the cache stays under ~30 MB)."""


def _segment_line(engine: str, line: str) -> tuple[str, ...]:
    if len(line) > CACHED_LINE_CHARS:
        return _segment_uncached(engine, line)
    return _segment_cached(engine, line)


def _segment_uncached(engine: str, line: str) -> tuple[str, ...]:
    return tuple(t for t in _segmenter(engine)(line) if t.strip())


_segment_cached = functools.lru_cache(maxsize=4096)(_segment_uncached)


def words_of(text: str, lang: str = "") -> Words:
    """The words of `text` in language `lang` (a lid.176 label; '' for unknown)."""
    tokens = tokenize(text, lang)
    stripped = (_EDGE_SYMBOLS.sub("", t) for t in tokens)
    return Words(tuple(w for w in stripped if w), len(tokens), "" if lang in SEGMENTED_LANGUAGES else " ")


@functools.lru_cache(maxsize=None)
def _stop_word_table() -> dict[str, frozenset[str]]:
    text = resources.files("tokenmill.transforms").joinpath("resources", "stop_words.json").read_text("utf-8")
    return {lang: frozenset(words) for lang, words in json.loads(text).items() if not lang.startswith("_")}


def stop_words(lang: str) -> frozenset[str] | None:
    """The stop words of `lang`, or None when tokenmill has no list for it (the rule is skipped)."""
    return _stop_word_table().get(lang)


def paragraphs(text: str) -> list[str]:
    return PARAGRAPH_BREAK.split(text.strip())


def count_sentences(line: str) -> int:
    """Sentences in one line: runs of . ! ? followed by a space, a quote or the end, and runs of
    other scripts' full stops (。 । ؟), which need no space after them.

    A light stand-in for NLTK's punkt (which needs a model download): abbreviations such as
    "e.g." count as ends, so it errs towards more sentences."""
    return max(1, len(_SENTENCE_END.findall(line))) if line.strip() else 0


def ends_sentence(line: str) -> bool:
    """The line ends in terminal punctuation and not in an ellipsis (C4's line rule)."""
    line = line.rstrip()
    return line.endswith(TERMINAL_PUNCTUATION) and not line.endswith(ELLIPSES)


def duplicates(items: list[str]) -> tuple[int, int]:
    """(number of repeated items, characters in them), counting each repeat after the first."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


__all__ = ["ELLIPSES", "PARAGRAPH_BREAK", "SEGMENTED_LANGUAGES", "TERMINAL_PUNCTUATION", "Words",
           "count_sentences", "duplicates", "ends_sentence", "paragraphs", "stop_words", "tokenize",
           "words_of"]

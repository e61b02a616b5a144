"""Gopher's quality and repetition rules (Rae et al. 2021, "Scaling Language Models: Methods,
Analysis & Insights from Training Gopher", appendix A.1.1 and table A1), as pure functions.

Quality: a document is kept with 50..100,000 words, a mean word length of 3..10 characters, at
most 0.1 '#' and 0.1 ellipses per word, at most 90% of lines starting with a bullet and 30%
ending in an ellipsis, at least 80% of words containing a letter, and at least two stop words.
Repetition: at most 30% duplicate lines/paragraphs (20% of characters in them), the most
frequent 2/3/4-gram covering at most 20/18/16% of characters, and duplicated 5..10-grams
covering at most 15..10%. Thresholds live in config (datatrove uses the same defaults); a value
of 0 switches a rule off. Words are language-aware (see text.py), and n-gram character lengths
use the language's separator, so the fractions stay within 0..1 for Chinese too.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

from tokenmill.transforms.document import Drop, DropReason
from tokenmill.transforms.quality.text import ELLIPSES, Words, duplicates, paragraphs, stop_words

BULLETS = ("•", "●", "○", "◦", "▪", "▫", "■", "□", "‣", "⁃", "-", "*", "·", "–", "➢", "►", "✓")


@dataclass(frozen=True)
class GopherQualityConfig:
    enabled: bool = True
    """Apply the Gopher quality rules."""
    min_words: int = 50
    """Fewest words a document may have. Gopher: 50."""
    max_words: int = 100_000
    """Most words a document may have. Gopher: 100,000."""
    min_mean_word_length: float = 3.0
    """Shortest mean word length, in characters. Gopher: 3."""
    max_mean_word_length: float = 10.0
    """Longest mean word length, in characters. Gopher: 10."""
    mean_word_length_by_lang: dict[str, tuple[float, ...]] = field(default_factory=lambda: {
        "zh": (1.0, 4.0), "wuu": (1.0, 4.0), "yue": (1.0, 4.0), "ja": (1.0, 4.0), "th": (1.5, 8.0)})
    """Per-language (min, max) mean word length replacing Gopher's 3..10 (English) bounds: segmented
    Chinese and Japanese words are 1-2 characters long. tokenmill's bounds from UDHR text."""
    max_hash_ratio: float = 0.1
    """Most '#' characters per word. Gopher: 0.1."""
    max_ellipsis_ratio: float = 0.1
    """Most ellipses ('...' or '…') per word. Gopher: 0.1."""
    max_bullet_lines: float = 0.9
    """Largest fraction of non-empty lines starting with a bullet. Gopher: 0.9."""
    max_ellipsis_lines: float = 0.3
    """Largest fraction of non-empty lines ending in an ellipsis. Gopher: 0.3."""
    min_alpha_words: float = 0.8
    """Smallest fraction of words containing an alphabetic character. Gopher: 0.8."""
    min_stop_words: int = 2
    """Fewest stop-word occurrences (resources/stop_words.json). Documents in a language without a
    list, or without a language (the language stage off), skip this rule. Gopher: 2."""


@dataclass(frozen=True)
class GopherRepetitionConfig:
    enabled: bool = True
    """Apply the Gopher repetition rules."""
    max_dup_paragraphs: float = 0.3
    """Largest fraction of paragraphs that repeat an earlier one. Gopher: 0.30."""
    max_dup_paragraph_chars: float = 0.2
    """Largest fraction of characters in repeated paragraphs. Gopher: 0.20."""
    max_dup_lines: float = 0.3
    """Largest fraction of non-empty lines that repeat an earlier one. Gopher: 0.30."""
    max_dup_line_chars: float = 0.2
    """Largest fraction of characters in repeated lines. Gopher: 0.20."""
    max_top_ngram_chars: tuple[float, ...] = (0.20, 0.18, 0.16)
    """For n = 2, 3, 4: largest fraction of characters covered by the most frequent n-gram.
    Gopher: 0.20, 0.18, 0.16."""
    max_dup_ngram_chars: tuple[float, ...] = (0.15, 0.14, 0.13, 0.12, 0.11, 0.10)
    """For n = 5..10: largest fraction of characters in duplicated n-grams. Gopher: 0.15 .. 0.10."""

    def __post_init__(self) -> None:
        if len(self.max_top_ngram_chars) != 3 or len(self.max_dup_ngram_chars) != 6:
            raise ValueError("max_top_ngram_chars needs 3 values (n=2..4), max_dup_ngram_chars 6 (n=5..10)")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _bounds(lang: str, cfg: GopherQualityConfig) -> tuple[float, float]:
    bounds = cfg.mean_word_length_by_lang.get(lang)
    return (bounds[0], bounds[1]) if bounds else (cfg.min_mean_word_length, cfg.max_mean_word_length)


def gopher_quality(text: str, words: Words, lang: str, cfg: GopherQualityConfig) -> Drop | None:
    """The first Gopher quality rule `text` fails, or None. `words` = words_of(text, lang)."""
    n = len(words.words)
    if n < cfg.min_words:
        return Drop(DropReason.GOPHER_TOO_FEW_WORDS, f"{n} words < {cfg.min_words}")
    if cfg.max_words and n > cfg.max_words:
        return Drop(DropReason.GOPHER_TOO_MANY_WORDS, f"{n} words > {cfg.max_words}")
    mean = sum(map(len, words.words)) / n
    low, high = _bounds(lang, cfg)
    if mean < low:
        return Drop(DropReason.GOPHER_SHORT_WORDS, f"mean word length {mean:.2f} < {low}")
    if high and mean > high:
        return Drop(DropReason.GOPHER_LONG_WORDS, f"mean word length {mean:.2f} > {high}")
    hashes = text.count("#") / n
    if cfg.max_hash_ratio and hashes > cfg.max_hash_ratio:
        return Drop(DropReason.GOPHER_HASH_RATIO, f"{hashes:.3f} '#' per word > {cfg.max_hash_ratio}")
    ellipses = (text.count("...") + text.count("…")) / n
    if cfg.max_ellipsis_ratio and ellipses > cfg.max_ellipsis_ratio:
        return Drop(DropReason.GOPHER_ELLIPSIS_RATIO, f"{ellipses:.3f} ellipses per word > {cfg.max_ellipsis_ratio}")
    lines = _lines(text)
    bullets = sum(line.startswith(BULLETS) for line in lines) / len(lines)
    if cfg.max_bullet_lines and bullets > cfg.max_bullet_lines:
        return Drop(DropReason.GOPHER_BULLET_LINES, f"{bullets:.2f} of lines start with a bullet > {cfg.max_bullet_lines}")
    trailing = sum(line.endswith(ELLIPSES) for line in lines) / len(lines)
    if cfg.max_ellipsis_lines and trailing > cfg.max_ellipsis_lines:
        return Drop(DropReason.GOPHER_ELLIPSIS_LINES, f"{trailing:.2f} of lines end in an ellipsis > {cfg.max_ellipsis_lines}")
    alpha = sum(any(c.isalpha() for c in w) for w in words.words) / n
    if alpha < cfg.min_alpha_words:
        return Drop(DropReason.GOPHER_FEW_ALPHA_WORDS, f"{alpha:.2f} of words have a letter < {cfg.min_alpha_words}")
    stops = stop_words(lang) if lang else None   # no language known (language stage off): skipped
    if stops is not None and cfg.min_stop_words:
        found = sum(w.lower() in stops for w in words.words)
        if found < cfg.min_stop_words:
            return Drop(DropReason.GOPHER_FEW_STOP_WORDS, f"{found} stop words < {cfg.min_stop_words}")
    return None


def _ngrams(words: tuple[str, ...], n: int) -> list[tuple[str, ...]]:
    return list(zip(*(words[k:] for k in range(n))))   # built in C: the hot loop of this module


def _prefix_lengths(words: tuple[str, ...]) -> list[int]:
    return [0, *itertools.accumulate(map(len, words))]


def top_ngram_chars(words: tuple[str, ...], n: int, sep: str = " ") -> int:
    """Characters covered by the most frequent n-gram: its length times its count.

    An n-gram that occurs once is no repetition and counts 0 (datatrove counts it, which drops
    short pages for "repetition" when they are merely short)."""
    grams = _ngrams(words, n)
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return (sum(map(len, gram)) + len(sep) * (n - 1)) * count if count > 1 else 0


def dup_ngram_chars(words: tuple[str, ...], n: int, sep: str = " ") -> int:
    """Characters in n-grams that repeat an earlier one; a repeat skips its n words (Gopher)."""
    grams = _ngrams(words, n)
    prefix = _prefix_lengths(words)
    seen: set[tuple[str, ...]] = set()
    chars, i = 0, 0
    while i < len(grams):
        if grams[i] in seen:
            chars += prefix[i + n] - prefix[i] + len(sep) * (n - 1)
            i += n
        else:
            seen.add(grams[i])
            i += 1
    return chars


def gopher_repetition(text: str, words: Words, cfg: GopherRepetitionConfig) -> Drop | None:
    """The first Gopher repetition rule `text` fails, or None. `words` = words_of(text, lang)."""
    total = len(text)
    if not total:
        return None
    paras = paragraphs(text)
    count, chars = duplicates(paras)
    if cfg.max_dup_paragraphs and count / len(paras) > cfg.max_dup_paragraphs:
        return Drop(DropReason.GOPHER_DUP_PARAGRAPHS, f"{count}/{len(paras)} paragraphs repeated > {cfg.max_dup_paragraphs}")
    if cfg.max_dup_paragraph_chars and chars / total > cfg.max_dup_paragraph_chars:
        return Drop(DropReason.GOPHER_DUP_PARAGRAPH_CHARS,
                    f"{chars / total:.3f} of characters in repeated paragraphs > {cfg.max_dup_paragraph_chars}")
    lines = _lines(text)
    count, chars = duplicates(lines)
    if lines and cfg.max_dup_lines and count / len(lines) > cfg.max_dup_lines:
        return Drop(DropReason.GOPHER_DUP_LINES, f"{count}/{len(lines)} lines repeated > {cfg.max_dup_lines}")
    if cfg.max_dup_line_chars and chars / total > cfg.max_dup_line_chars:
        return Drop(DropReason.GOPHER_DUP_LINE_CHARS,
                    f"{chars / total:.3f} of characters in repeated lines > {cfg.max_dup_line_chars}")
    for n, limit in zip((2, 3, 4), cfg.max_top_ngram_chars):
        frac = top_ngram_chars(words.words, n, words.separator) / total
        if limit and frac > limit:
            return Drop(DropReason(f"gopher_top_{n}gram"), f"top {n}-gram covers {frac:.3f} > {limit}")
    for n, limit in zip(range(5, 11), cfg.max_dup_ngram_chars):
        frac = dup_ngram_chars(words.words, n, words.separator) / total
        if limit and frac > limit:
            return Drop(DropReason(f"gopher_dup_{n}gram"), f"duplicated {n}-grams cover {frac:.3f} > {limit}")
    return None


__all__ = ["GopherQualityConfig", "GopherRepetitionConfig", "dup_ngram_chars", "gopher_quality",
           "gopher_repetition", "top_ngram_chars"]

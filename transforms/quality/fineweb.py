"""FineWeb's own quality rules (Penedo et al. 2024, "The FineWeb Datasets: Decanting the Web for
the Finest Text Data at Scale", section 3.3.4; datatrove's FineWebQualityFilter), as a pure function.

Four rules over the lines of the (C4-cleaned) text, with FineWeb's thresholds:
- at most 12% of lines end in terminal punctuation -> dropped (lists, menus, tables);
- at least 67% of lines are 30 characters or shorter -> dropped;
- at least 1% of characters are in lines that repeat an earlier line -> dropped;
- more than 0.3 newlines per word -> dropped (one-word lines: lists).
Terminal punctuation includes other scripts' full stops (。 । ؟), so the first rule holds for
Chinese or Hindi pages too. Lines are the non-empty lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenmill.transforms.document import Drop, DropReason
from tokenmill.transforms.quality.text import TERMINAL_PUNCTUATION, Words, duplicates


@dataclass(frozen=True)
class FineWebConfig:
    enabled: bool = True
    """Apply the FineWeb rules."""
    min_line_punct_ratio: float = 0.12
    """Pages where this fraction of lines or fewer ends in terminal punctuation are dropped. FineWeb: 0.12."""
    short_line_chars: int = 30
    """A line of at most this many characters is short. FineWeb: 30."""
    max_short_line_ratio: float = 0.67
    """Pages with at least this fraction of short lines are dropped. FineWeb: 0.67."""
    max_dup_line_chars: float = 0.01
    """Pages with at least this fraction of characters in repeated lines are dropped. FineWeb: 0.01."""
    max_newline_word_ratio: float = 0.3
    """Pages with more newlines per word are dropped. FineWeb: 0.3."""


def fineweb_quality(text: str, words: Words, cfg: FineWebConfig) -> Drop | None:
    """The first FineWeb rule `text` fails, or None. `words` = words_of(text, lang)."""
    lines = [line.rstrip() for line in text.split("\n") if line.strip()]
    if not lines:
        return Drop(DropReason.FINEWEB_LINE_PUNCT, "no lines")
    punct = sum(line.endswith(TERMINAL_PUNCTUATION) for line in lines) / len(lines)
    if punct <= cfg.min_line_punct_ratio:
        return Drop(DropReason.FINEWEB_LINE_PUNCT,
                    f"{punct:.2f} of lines end in terminal punctuation <= {cfg.min_line_punct_ratio}")
    short = sum(len(line.strip()) <= cfg.short_line_chars for line in lines) / len(lines)
    if short >= cfg.max_short_line_ratio:
        return Drop(DropReason.FINEWEB_SHORT_LINES,
                    f"{short:.2f} of lines <= {cfg.short_line_chars} characters >= {cfg.max_short_line_ratio}")
    _, dup_chars = duplicates([line.strip() for line in lines])
    chars = max(len(text.replace("\n", "")), 1)
    if cfg.max_dup_line_chars and dup_chars / chars >= cfg.max_dup_line_chars:
        return Drop(DropReason.FINEWEB_DUP_LINE_CHARS,
                    f"{dup_chars / chars:.3f} of characters in repeated lines >= {cfg.max_dup_line_chars}")
    newlines = text.strip().count("\n")
    ratio = newlines / max(words.tokens, 1)
    if cfg.max_newline_word_ratio and ratio > cfg.max_newline_word_ratio:
        return Drop(DropReason.FINEWEB_LIST_RATIO, f"{ratio:.2f} newlines per word > {cfg.max_newline_word_ratio}")
    return None


__all__ = ["FineWebConfig", "fineweb_quality"]

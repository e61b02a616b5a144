"""C4's cleaning rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a
Unified Text-to-Text Transformer", section 2.2; TFDS `c4_utils.clean_page`; datatrove's
C4QualityFilter), as a pure function.

Line rules remove lines, not pages: lines with a word over 1,000 characters, lines without
terminal punctuation (off by default, as FineWeb runs it: it removed too much), lines with fewer
than 3 words, lines mentioning "javascript", and cookie/terms-of-use/privacy-policy lines.
Wikipedia-style citation marks ([1], [edit]) are cut out of lines. Page rules drop the page:
"lorem ipsum" or a curly bracket in a kept line, or fewer than 5 sentences in the kept lines.
A kept page's text becomes its kept lines (`clean_lines`). Words per line are language-aware
(text.py), so a Chinese line is not one "word".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tokenmill.transforms.document import Drop, DropReason
from tokenmill.transforms.quality.text import count_sentences, ends_sentence, tokenize
from tokenmill.transforms.typed_config import check_minimums

CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]", re.IGNORECASE)
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                  "use cookies")


@dataclass(frozen=True)
class C4Config:
    enabled: bool = True
    """Apply the C4 rules."""
    clean_lines: bool = True
    """Replace a kept page's text by its kept lines (C4). False: only count, keep the text."""
    remove_citations: bool = True
    """Cut Wikipedia citation marks such as [1], [edit], [citation needed] out of lines."""
    drop_lines_without_terminal_punct: bool = False
    """Remove lines that do not end in terminal punctuation. C4: true; FineWeb: false (it removed
    too many tokens in FineWeb's ablations; the FineWeb line-punctuation rule replaces it)."""
    min_words_per_line: int = 3
    """Lines with fewer words are removed. C4/datatrove: 3; 0 keeps them."""
    max_word_length: int = 1000
    """Lines with a longer word (characters) are removed. C4: 1000; 0 keeps them."""
    drop_javascript_lines: bool = True
    """Remove lines containing "javascript". C4: true."""
    drop_policy_lines: bool = True
    """Remove lines about cookies, terms of use or privacy policies. C4 (TFDS code): true."""
    drop_lorem_ipsum: bool = True
    """Drop pages containing "lorem ipsum". C4: true."""
    drop_curly_bracket: bool = True
    """Drop pages containing '{' (code, templates). C4: true."""
    min_sentences: int = 5
    """Fewest sentences the kept lines must have. C4 paper: 5; 0 disables."""

    def __post_init__(self) -> None:
        check_minimums(self, min_words_per_line=0, max_word_length=0, min_sentences=0)


@dataclass(frozen=True)
class C4Result:
    """The page after C4: its kept text, the lines removed, and the page verdict (None keeps it)."""

    text: str
    lines_removed: int
    sentences: int
    drop: Drop | None


def _line_removed(line: str, words: list[str], cfg: C4Config) -> bool:
    if cfg.max_word_length and any(len(w) > cfg.max_word_length for w in words):
        return True
    if cfg.drop_lines_without_terminal_punct and not ends_sentence(line):
        return True
    return len(words) < cfg.min_words_per_line


def c4_clean(text: str, lang: str, cfg: C4Config) -> C4Result:
    """C4's line cleaning and page rules for `text` in language `lang` (a lid.176 label or '')."""
    kept: list[str] = []
    removed = sentences = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if cfg.remove_citations:
            line = CITATION.sub("", line).strip()
        if _line_removed(line, tokenize(line, lang), cfg):
            removed += 1
            continue
        lower = line.lower()
        if cfg.drop_lorem_ipsum and "lorem ipsum" in lower:
            return C4Result(text, removed, sentences, Drop(DropReason.C4_LOREM_IPSUM, "contains 'lorem ipsum'"))
        if cfg.drop_javascript_lines and "javascript" in lower:
            removed += 1
            continue
        if cfg.drop_curly_bracket and "{" in line:
            return C4Result(text, removed, sentences, Drop(DropReason.C4_CURLY_BRACKET, f"'{{' in: {line[:80]}"))
        if cfg.drop_policy_lines and any(p in lower for p in POLICY_PHRASES):
            removed += 1
            continue
        sentences += count_sentences(line)
        kept.append(line)
    if sentences < cfg.min_sentences:
        return C4Result(text, removed, sentences, Drop(
            DropReason.C4_TOO_FEW_SENTENCES, f"{sentences} sentences in kept lines < {cfg.min_sentences}"))
    return C4Result("\n".join(kept) if cfg.clean_lines else text, removed, sentences, None)


__all__ = ["C4Config", "C4Result", "c4_clean"]

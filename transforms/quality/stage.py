"""The `quality` stage: the rule families chained in FineWeb's order, one named reason per drop.

Order (FineWeb, Penedo et al. 2024): Gopher repetition, Gopher quality, C4 (which may replace the
text by its kept lines), then the FineWeb rules on the cleaned text. The first failing rule
names the drop; a kept document carries the cleaned text and a few measurements as signals
(`words`, `mean_word_length`, `c4_lines_removed`), and so does a dropped one, for the report.
The document's `lang` (set by the language stage) selects word splitting and stop words.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tokenmill.transforms.document import Document, Drop, Outcome
from tokenmill.transforms.quality.c4 import C4Config, c4_clean
from tokenmill.transforms.quality.fineweb import FineWebConfig, fineweb_quality
from tokenmill.transforms.quality.gopher import (GopherQualityConfig, GopherRepetitionConfig, gopher_quality,
                                                 gopher_repetition)
from tokenmill.transforms.quality.text import words_of


@dataclass(frozen=True)
class QualityConfig:
    enabled: bool = True
    """Run the quality stage (each rule family below can be switched off on its own)."""
    gopher_repetition: GopherRepetitionConfig = field(default_factory=GopherRepetitionConfig)
    gopher_quality: GopherQualityConfig = field(default_factory=GopherQualityConfig)
    c4: C4Config = field(default_factory=C4Config)
    fineweb: FineWebConfig = field(default_factory=FineWebConfig)


def _measured(doc: Document, text: str, n_words: int, mean: float, removed: int) -> Document:
    return dataclasses.replace(doc, text=text, signals={
        **doc.signals, "words": float(n_words), "mean_word_length": mean, "c4_lines_removed": float(removed)})


def assess_quality(doc: Document, cfg: QualityConfig) -> Outcome:
    """Keeps (possibly with C4-cleaned text) or drops `doc` with the first rule it fails."""
    lang, text = doc.lang, doc.text
    words = words_of(text, lang)
    n = len(words.words)
    mean = sum(map(len, words.words)) / n if n else 0.0
    verdict = None
    if cfg.gopher_repetition.enabled:
        verdict = gopher_repetition(text, words, cfg.gopher_repetition)
    if verdict is None and cfg.gopher_quality.enabled:
        verdict = gopher_quality(text, words, lang, cfg.gopher_quality)
    removed = 0
    if verdict is None and cfg.c4.enabled:
        cleaned = c4_clean(text, lang, cfg.c4)
        verdict, removed = cleaned.drop, cleaned.lines_removed
        if verdict is None and cleaned.text != text:
            text, words = cleaned.text, words_of(cleaned.text, lang)
    if verdict is None and cfg.fineweb.enabled:
        verdict = fineweb_quality(text, words, cfg.fineweb)
    annotated = _measured(doc, text, n, mean, removed)
    if verdict is not None:
        return dataclasses.replace(verdict, annotated=dataclasses.replace(annotated, text=doc.text))
    return annotated


class QualityStep:
    """The quality stage's step (no model: the segmenters load lazily on the first zh/ja/th page)."""

    def __init__(self, cfg: QualityConfig):
        self.cfg = cfg

    def __call__(self, doc: Document) -> Outcome:
        return assess_quality(doc, self.cfg)


__all__ = ["QualityConfig", "QualityStep", "assess_quality"]

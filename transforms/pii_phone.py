"""Phone numbers by shape, checked with `phonenumbers`: a Presidio recognizer that finds most of them.

Presidio's stock `PhoneRecognizer` runs `phonenumbers.PhoneNumberMatcher` once per region over the
whole text and keeps only numbers that are valid in one of them. That finds about 0.6 of the phone
numbers in presidio-research's synthetic data (many are written in local formats that no numbering
plan validates) and costs seconds per page of tables or prices, since the matcher parses every
digit run once per region.

This recognizer works the other way round: one regular expression finds digit groups that could be
a phone number (separated by spaces, dashes, dots or slashes, with an optional `+` country code,
parenthesised area code and extension), and a pure function scores the shape:
- shapes that are phone numbers in practice (a `+` prefix, a parenthesised area code, an
  extension, the North American 3-3-4 grouping, four or more groups, a national trunk `0` prefix)
  score `STRONG`, above the analyzer's threshold;
- other digit runs of 7 to 15 digits score `WEAK` unless `phonenumbers` says they are a valid
  number in one of the configured regions; a weak candidate is kept only with a context word
  before it (Presidio's context enhancer) or a phone label after it on the same line
  ("555 1234 office", "(fax)");
- dates, year ranges, IPv4 addresses, decimals, thousands-grouped amounts without a phone cue,
  ISBN-like groupings and the US SSN grouping (left to the SSN recognizer) are not phones.

Everything the recognizer looks at lies on the candidate's own line (no pattern crosses a newline),
which the windowed analysis in `pii_engine` relies on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, List, Optional

import phonenumbers
import phonenumbers.re_util
from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult

from tokenmill.transforms.pii_config import DEFAULT_REGIONS

STRONG = 0.5
"""Score of phone-shaped candidates: above the default threshold (0.4) without context."""
NATIONAL = 0.5
"""Score of a weakly shaped candidate that is a valid number of a configured region and grouped
the way that region writes its numbers (`91 234 56 78` in Poland, `030 1234567` in Germany)."""
WEAK = 0.15
"""Score of other digit runs: kept only when context lifts them (0.15 + 0.35 context >= 0.4)."""

MIN_DIGITS, MAX_DIGITS = 7, 15      # E.164 allows at most 15 digits; shorter than 7 is local-only
MIN_GROUPED_DIGITS = 6              # "92 34 70": six digits only in three or more groups

_SPACE = "[ \u00a0]"
_SEP = rf"(?:{_SPACE}?[-./\u2013]{_SPACE}?|{_SPACE})"
_GROUP = r"(?:\(\+?\d{1,5}+\)|\d{1,15}+)"
_EXT = rf"(?:{_SPACE}?(?:x|ext\.?|extension){_SPACE}?\d{{1,6}}+)"
CANDIDATE = re.compile(
    r"(?<![\w+/])(?<!\d[.,/-])"                     # not inside a word, a URL path or a longer number
    rf"(?P<number>\+?{_GROUP}(?:{_SEP}?{_GROUP}){{0,7}}+)"
    rf"(?P<ext>{_EXT})?"
    r"(?!\w|:\d)",                                   # nor the date and hour of a timestamp
    re.IGNORECASE)
"""A digit-group run that may be a phone number; `classify` decides. Never crosses a newline."""

PREFILTER = re.compile(r"\d(?:[ \u00a0().\-/\u2013]{0,5}\d){%d}" % (MIN_GROUPED_DIGITS - 1))
"""Six digits with at most five separator characters between neighbours: every candidate that can
classify has that (a separator is at most ` - `, with a parenthesis on either side: `) - (`)."""

LABEL_AFTER = re.compile(
    r"[ \t]*[-(\[,:/]?[ \t]*(?:office|fax|mobile|cell|tel|phone|home|work|landline)\b", re.IGNORECASE)
"""A phone label right after the number on the same line ("555 1234 office", "... (fax)")."""

CONTEXT = ["phone", "telephone", "tel", "mobile", "cell", "fax", "contact", "reach", "dial", "whatsapp", "sms",
           "number"]
"""Context words before a number (substring match on lower-cased tokens, Presidio's default mode).
`number` is in Presidio's list too ("my number is ..."); it also lifts a licence or account
number written as digits, which is personal as well. Not `call`: spaCy lists it as a stop word,
and Presidio never takes stop words as context."""


@dataclass(frozen=True)
class Shape:
    """The digit groups of a candidate and the cues around them."""

    groups: tuple[str, ...]        # digit groups in order (parentheses removed)
    seps: tuple[str, ...]          # the separator before each group after the first ('' when glued)
    plus: bool
    paren: bool
    ext: bool

    @property
    def digits(self) -> str:
        return "".join(self.groups)


_PIECE = re.compile(r"\(?\+?(\d+)\)?")


def shape_of(number: str, ext: str = "") -> Shape:
    """Splits a CANDIDATE match into digit groups and the separators between them."""
    groups, seps, last_end = [], [], None
    for m in _PIECE.finditer(number):
        if m.group(0) == "(0)" and last_end is not None:
            continue          # "+44 (0) 20 ...": the trunk zero printed for national callers
        if last_end is not None:
            raw = number[last_end:m.start()]
            seps.append(raw.strip(" \u00a0()0") or (" " if raw else ""))
        groups.append(m.group(1))
        last_end = m.end()
    return Shape(tuple(groups), tuple(seps), "+" in number, "(" in number, bool(ext))


def _is_date(shape: Shape) -> bool:
    g = shape.groups
    if len(set(shape.seps)) > 1:
        return False
    if len(g) == 2:   # year ranges: 1999-2004
        return all(len(x) == 4 and 1900 <= int(x) <= 2099 for x in g)
    if len(g) != 3:
        return False
    a, b, c = (int(x) for x in g)
    if len(g[0]) == 4 and 1900 <= a <= 2099:
        return 1 <= b <= 12 and 1 <= c <= 31
    if len(g[2]) in (2, 4) and len(g[0]) <= 2 and len(g[1]) <= 2:
        return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and 1 <= b <= 31)
    return False


def _is_ipv4(shape: Shape) -> bool:
    return (len(shape.groups) == 4 and set(shape.seps) == {"."}
            and all(len(x) <= 3 and int(x) <= 255 for x in shape.groups))


def _thousands(shape: Shape) -> bool:
    """1 234 567 or 1.234.567: an amount, unless something else says phone."""
    g = shape.groups
    return (len(g) >= 2 and len(g[0]) <= 3 and not g[0].startswith("0") and all(len(x) == 3 for x in g[1:])
            and len(set(shape.seps)) == 1)


def _nanp(shape: Shape) -> bool:
    """North American 3-3-4 grouping, optionally after 1, 001 or 011 (`555-123-4567`, `1.555.123.4567`)."""
    g = list(shape.groups)
    if len(g) == 4 and g[0] in ("1", "001", "011"):
        g = g[1:]
    return [len(x) for x in g] == [3, 3, 4]


def classify(shape: Shape) -> Optional[str]:
    """'strong', 'weak' or None (not a phone number) for a candidate's shape."""
    digits, g = shape.digits, shape.groups
    if len(digits) > MAX_DIGITS or len(digits) < MIN_GROUPED_DIGITS:
        return None
    if len(digits) < MIN_DIGITS and len(g) < 3:
        return None
    if _is_date(shape) or _is_ipv4(shape) or (len(g[0]) == 4 and _is_date(Shape(g[:3], shape.seps[:2], False, False, False))):
        return None
    if len(g) == 2 and shape.seps[0] in (".", "") and not (shape.plus or shape.paren):
        return None           # 3.14159, 1234.5678: decimals
    if len(g) > 1 and (len(g[-1]) == 1 or any(len(x) == 1 for x in g[2:-1])
                       or (len(g[1]) == 1 and not shape.plus and set(shape.seps) <= {"-", " "})):
        return None           # ISBN-like 978-3-16-148410-0; "+33 1 40 20 50 50", "06-1/631 1862" are fine
    if [len(x) for x in g] == [3, 2, 4] and shape.seps == ("-", "-"):
        return None           # the US SSN grouping, left to the SSN recognizer
    if shape.plus or shape.paren or shape.ext or _nanp(shape):
        return "strong"
    if _thousands(shape):
        return "weak"
    if len(g) >= 4 and all(len(x) >= 2 for x in g[1:]):
        return "strong"
    if digits.startswith("0") and 9 <= len(digits) <= 13 and (len(g) >= 2 or digits[1] != "0"):
        return "strong"       # national trunk prefix (020 7946 0958, 0612345678) or 00 international prefix
    return "weak"


def _group_lengths(text: str) -> list[int]:
    return [len(g) for g in re.findall(r"\d+", text)]


def national_format_in(number: str, regions: tuple[str, ...]) -> bool:
    """True when `phonenumbers` finds `number` valid in one of `regions` AND that region's national
    format groups its digits exactly as written, trunk prefix included. Validity alone means little for
    local-looking numbers: German and Austrian plans accept almost any 7-11 digits, so a licence
    number or `1 234 567` would pass; the grouping is what people copy from their own country.
    """
    written = _group_lengths(number)
    if len(written) < 2:
        return False
    for region in regions:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(parsed):
            continue
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        if _group_lengths(national) == written:
            return True
    return False


class ShapePhoneRecognizer(LocalRecognizer):
    """PHONE_NUMBER by shape and `phonenumbers` validity; see the module docstring."""

    def __init__(self, regions: tuple[str, ...] = DEFAULT_REGIONS, context: Optional[List[str]] = None,
                 supported_language: str = "en"):
        self.regions = tuple(regions)
        super().__init__(supported_entities=["PHONE_NUMBER"], supported_language=supported_language,
                         context=list(context or CONTEXT), name="ShapePhoneRecognizer")

    def load(self) -> None:
        # phonenumbers compiles its metadata patterns through re's bounded cache, which thrashes
        # across many regions; its own unbounded cache keeps them (a few thousand small patterns).
        phonenumbers.re_util.enable_pattern_cache()

    def triggers(self, text: str) -> Iterator[int]:
        """Start of every candidate that can become a finding (its shape classifies), for the pre-check.

        Only lines with six digits close together (PREFILTER) are scanned; finditer(text, pos,
        endpos) sees the same characters around a line as a scan of the whole text.
        """
        pos = 0
        while (hit := PREFILTER.search(text, pos)) is not None:
            start = text.rfind("\n", 0, hit.start()) + 1
            end = text.find("\n", hit.end())
            end = len(text) if end < 0 else end
            for m in CANDIDATE.finditer(text, start, end):
                if m.end() - m.start() >= MIN_GROUPED_DIGITS and classify(shape_of(m.group("number"))) is not None:
                    yield m.start()
                    break      # one position per line is all the windows need
            pos = end + 1

    def analyze(self, text: str, entities: List[str], nlp_artifacts=None) -> List[RecognizerResult]:
        results = []
        for m in CANDIDATE.finditer(text):
            result = self._score(text, m)
            if result is not None:
                results.append(result)
        return results

    def _score(self, text: str, m: re.Match) -> Optional[RecognizerResult]:
        kind = classify(shape_of(m.group("number"), m.group("ext") or ""))
        if kind is None:
            return None
        score = STRONG
        if kind == "weak":
            score = NATIONAL if national_format_in(m.group("number"), self.regions) else WEAK
        explanation = AnalysisExplanation(recognizer=self.name, original_score=score,
                                          pattern_name=f"phone ({kind})", pattern=CANDIDATE.pattern,
                                          textual_explanation=f"phone-shaped digit groups ({kind})")
        result = RecognizerResult("PHONE_NUMBER", m.start(), m.end(), score, explanation,
                                  {RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                   RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})
        if score < STRONG and LABEL_AFTER.match(text, m.end()):
            # A label after the number is context too; Presidio's enhancer only looks before it.
            # Same arithmetic as LemmaContextAwareEnhancer (+0.35, at least 0.4), applied once.
            result.score = min(1.0, max(score + 0.35, 0.4))
            result.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
        return result

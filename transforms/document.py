"""The record that flows through the pipeline, the named drop reasons, and step outcomes.

One frozen `Document` type travels from the reader to the writer: the reader fills in where it
came from (and the raw HTML for WARC responses), extraction replaces the HTML with text, and each
later stage adds its signal with `dataclasses.replace` (never mutation: Beam may hand the same
object to two consumers). A stage step returns the document (kept), a `Drop` (filtered, with a
named reason) or a `Failure` (could not be processed; it goes to the dead-letter output).

Reasons are enum members, never inline strings: TFDS's C4 once shipped the counter
`page-filitered-nourl` and a test that froze the typo.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Mapping

import xxhash


class DropReason(str, enum.Enum):
    """Why a document was filtered out. The value is the name used in counters and reports."""

    # read: pages with nothing to extract (records that are no page at all are counted apart)
    NOT_HTML = "not_html"                  # a response whose payload is an image, PDF, dns:, ...
    HTTP_STATUS = "http_status"            # redirects, 404s and other non-2xx responses
    EMPTY_BODY = "empty_body"
    NOT_EXTRACTED = "not_extracted"        # an HTML page in a run with extract.enabled false
    # extract
    NO_TEXT = "no_text"                    # the extractor found no main text
    # url
    URL_BLOCKED_DOMAIN = "url_blocked_domain"
    URL_BLOCKED_URL = "url_blocked_url"
    URL_BANNED_WORD = "url_banned_word"
    URL_SOFT_WORDS = "url_soft_words"
    # language
    LANG_NOT_ALLOWED = "lang_not_allowed"
    LANG_LOW_SCORE = "lang_low_score"
    # quality: Gopher quality rules (Rae et al. 2021, appendix A.1.1)
    GOPHER_TOO_FEW_WORDS = "gopher_too_few_words"
    GOPHER_TOO_MANY_WORDS = "gopher_too_many_words"
    GOPHER_SHORT_WORDS = "gopher_short_words"          # mean word length below the minimum
    GOPHER_LONG_WORDS = "gopher_long_words"            # mean word length above the maximum
    GOPHER_HASH_RATIO = "gopher_hash_ratio"            # '#' per word
    GOPHER_ELLIPSIS_RATIO = "gopher_ellipsis_ratio"    # '...' per word
    GOPHER_BULLET_LINES = "gopher_bullet_lines"
    GOPHER_ELLIPSIS_LINES = "gopher_ellipsis_lines"
    GOPHER_FEW_ALPHA_WORDS = "gopher_few_alpha_words"
    GOPHER_FEW_STOP_WORDS = "gopher_few_stop_words"
    # quality: Gopher repetition rules (Rae et al. 2021, table A1)
    GOPHER_DUP_PARAGRAPHS = "gopher_dup_paragraphs"
    GOPHER_DUP_PARAGRAPH_CHARS = "gopher_dup_paragraph_chars"
    GOPHER_DUP_LINES = "gopher_dup_lines"
    GOPHER_DUP_LINE_CHARS = "gopher_dup_line_chars"
    GOPHER_TOP_2GRAM = "gopher_top_2gram"
    GOPHER_TOP_3GRAM = "gopher_top_3gram"
    GOPHER_TOP_4GRAM = "gopher_top_4gram"
    GOPHER_DUP_5GRAM = "gopher_dup_5gram"
    GOPHER_DUP_6GRAM = "gopher_dup_6gram"
    GOPHER_DUP_7GRAM = "gopher_dup_7gram"
    GOPHER_DUP_8GRAM = "gopher_dup_8gram"
    GOPHER_DUP_9GRAM = "gopher_dup_9gram"
    GOPHER_DUP_10GRAM = "gopher_dup_10gram"
    # quality: C4 page rules (Raffel et al. 2020, section 2.2); its line rules remove lines, not pages
    C4_LOREM_IPSUM = "c4_lorem_ipsum"
    C4_CURLY_BRACKET = "c4_curly_bracket"
    C4_TOO_FEW_SENTENCES = "c4_too_few_sentences"
    # quality: FineWeb rules (Penedo et al. 2024, section 3.3)
    FINEWEB_LINE_PUNCT = "fineweb_line_punct"          # too few lines end in terminal punctuation
    FINEWEB_SHORT_LINES = "fineweb_short_lines"
    FINEWEB_DUP_LINE_CHARS = "fineweb_dup_line_chars"
    FINEWEB_LIST_RATIO = "fineweb_list_ratio"          # newlines per word
    # dedup
    EXACT_DUPLICATE = "exact_duplicate"
    URL_DUPLICATE = "url_duplicate"        # exact_dedup.by_url: another document has the same URL
    NEAR_DUPLICATE = "near_duplicate"
    # toxicity
    TOXIC = "toxic"
    # pii
    TOO_MUCH_PII = "too_much_pii"


class ErrorKind(str, enum.Enum):
    """Why a record could not be processed at all; such records go to `errors/`."""

    UNREADABLE_FILE = "unreadable_file"    # the file could not be opened or listed
    TRUNCATED = "truncated"                # a compressed stream or record ends early
    DECOMPRESSION = "decompression"        # corrupt gzip/zstd data
    MALFORMED_RECORD = "malformed_record"  # WARC/HTTP headers, JSON or Parquet rows that do not parse
    MISSING_TEXT = "missing_text"          # a JSONL/Parquet row without a string `text`
    CHARSET = "charset"                    # bytes that decode to nothing usable
    BINARY_PAYLOAD = "binary_payload"      # declared as HTML but the bytes are binary
    TOO_LARGE = "too_large"                # above the per-document size limit
    TIMEOUT = "timeout"                    # above the per-document time limit
    EXTRACTOR_CRASH = "extractor_crash"    # the extractor process died (memory limit, segfault)
    MODEL_ERROR = "model_error"            # a model call raised on this document
    INTERNAL = "internal"                  # an unexpected exception in tokenmill; please report


@dataclass(frozen=True)
class Document:
    """One page or text record, and the signals stages attach to it."""

    id: str
    """Stable id: from WARC-Record-ID, the input's `id` field, or a hash of file name and position."""
    url: str = ""
    text: str = ""
    source: str = ""
    """The input file this record came from."""
    offset: int = 0
    """Byte offset of the record in `source` (compressed offset for gzip members), or row number."""
    record_type: str = "text"
    """WARC-Type of the record (`response`, `conversion`, ...) or `text` for JSONL/Parquet rows."""
    content_type: str = ""
    http_status: int = 0
    charset: str = ""
    """Charset declared by the HTTP header, if any; extraction may still detect another."""
    date: str = ""
    html: bytes | None = None
    """The HTTP payload for WARC responses until extraction replaces it with `text`."""
    lang: str = ""
    lang_score: float = float("nan")
    lang_top: tuple[tuple[str, float], ...] = ()
    toxicity: float = float("nan")
    toxicity_labels: Mapping[str, float] = field(default_factory=dict)
    pii_counts: Mapping[str, int] = field(default_factory=dict)
    cluster_id: str = ""
    cluster_size: int = 1
    signals: Mapping[str, float] = field(default_factory=dict)
    """Numeric signals computed by stages (quality ratios, extraction time, ...) for the report."""

    def with_signals(self, **values: float) -> "Document":
        return dataclasses.replace(self, signals={**self.signals, **values})


@dataclass(frozen=True)
class ReadFailure:
    """A part of an input file that could not be read as a record; counted as one input record."""

    source: str
    offset: int
    kind: ErrorKind
    detail: str


@dataclass(frozen=True)
class Drop:
    reason: DropReason
    detail: str = ""
    """Free text for humans: the measured value against its threshold, the survivor's id, ..."""
    annotated: Document | None = None
    """The document with the signal that condemned it (lang, toxicity, ...), for stats and rejects."""


@dataclass(frozen=True)
class Failure:
    kind: ErrorKind
    detail: str = ""


Outcome = Document | Drop | Failure


def stable_hash(text: str, seed: int = 0) -> int:
    """A 64-bit hash that is the same on every worker (the built-in hash() is salted per process)."""
    return xxhash.xxh3_64_intdigest(text.encode("utf-8"), seed=seed)


def derived_id(source: str, position: int) -> str:
    """Id for a record that has none: a hash of the file's base name and the record's position."""
    name = source.rstrip("/").rsplit("/", 1)[-1]
    return xxhash.xxh3_128_hexdigest(f"{name}#{position}".encode("utf-8"))

"""HTML to main text: charset decoding, extraction with trafilatura or resiliparse, limits.

Charset follows the WHATWG order browsers use: byte-order mark, then the HTTP header, then the
`<meta charset>` tag, then detection (uchardet through resiliparse). Extraction runs in an
isolated child process by default (`isolated.py`), so that one pathological page is a counted
`timeout` or `extractor_crash` error, not a hung or dead worker.

Backends: trafilatura (Barbaresi 2021, ACL demo; precise main-content extraction, the default,
with `favor_precision` as FineWeb uses it) and resiliparse (Bevendorff et al. 2018; about ten
times faster, a little less precise).

Tables: trafilatura 2.x writes a table as Markdown rows (`| cell | cell |`, a `|---|` rule under a
header row), where 1.x and resiliparse write plain lines. The quality rules were written for plain
lines (FineWeb's line-punctuation rule sees every row end in `|` and drops the page), and pages
laid out with tables (forums, older news and government sites) put their whole text in such rows.
With `plain_tables` (default) the extracted XML's tables are unwrapped before trafilatura's own
text serialiser runs (`unwrap_tables`): each cell's paragraphs are lines, as everywhere else.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
import time
from dataclasses import dataclass
from typing import Callable, Literal

from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5

from tokenmill.transforms.document import Document, Drop, DropReason, ErrorKind, Failure, Outcome
from tokenmill.transforms.isolated import CallTimeout, ChildCrashed, ChildError, IsolatedFunction, Limits
from tokenmill.transforms.typed_config import check_minimums


@dataclass(frozen=True)
class ExtractConfig:
    enabled: bool = True
    """Extract main text from HTML. When off, HTML records are dropped as `no_text`; text records pass."""
    backend: Literal["trafilatura", "resiliparse"] = "trafilatura"
    """trafilatura: precise (default). resiliparse: about 10x faster, keeps more boilerplate."""
    favor_precision: bool = True
    """trafilatura: prefer dropping doubtful parts (FineWeb's setting)."""
    include_tables: bool = True
    """Keep text from HTML tables."""
    include_comments: bool = False
    """Keep user comments below articles."""
    plain_tables: bool = True
    """Write table cells as plain lines, not trafilatura 2.x's Markdown rows (`| a | b |`), which
    the line-based quality rules read as lines without punctuation (module docstring)."""
    max_html_mb: float = 5.0
    """Pages with more HTML than this (MiB, after decompression) are `too_large` errors."""
    time_limit_s: float = 20.0
    """Per-page extraction time limit in seconds; 0 runs in-process with no limit (faster, unsafe)."""
    memory_limit_mb: int = 4096
    """Address-space cap of the extraction process (MiB); 0 = none."""

    def __post_init__(self) -> None:
        if not 0 < self.max_html_mb < float("inf"):
            raise ValueError(f"max_html_mb must be a positive size in MiB, got {self.max_html_mb}")
        if not 0 <= self.time_limit_s < float("inf"):
            raise ValueError(f"time_limit_s must be >= 0 seconds (0: no limit), got {self.time_limit_s}")
        check_minimums(self, memory_limit_mb=0)


def decode_html(payload: bytes, declared: str = "") -> tuple[str, str]:
    """Decodes an HTML payload; returns (text, encoding used). Raises UnicodeError on failure."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if payload.startswith(bom):
            return bytes_to_str(payload, name), name
    # An unknown label maps to None (not UTF-8), so the meta tag and detection get their turn.
    encoding = map_encoding_to_html5(declared, fallback_utf8=False) if declared else None
    if not encoding:
        encoding = detect_encoding(payload, from_html_meta=True)
    return bytes_to_str(payload, encoding), encoding


def looks_binary(payload: bytes) -> bool:
    """True for payloads that are not text in any charset: NUL bytes or many control bytes early on."""
    head = payload[:4096]
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls > len(head) * 0.1


# trafilatura's block elements: a cell holding one of these is a container, others are a paragraph.
_BLOCKS = frozenset({"p", "head", "list", "quote", "table", "div", "code", "graphic", "ab"})
_SPACES = re.compile(r"\s+")


def _collapse_spaces(cell) -> None:
    """Cell text as a browser renders it: trafilatura keeps a cell's source whitespace (hard line
    wraps, indentation), which in its own paragraphs it collapses; runs of it become one space,
    and the cell's leading and trailing space goes."""
    for node in cell.iter():
        if node.text:
            node.text = _SPACES.sub(" ", node.text)
        if node.tail and node is not cell:
            node.tail = _SPACES.sub(" ", node.tail)
    if cell.text:
        cell.text = cell.text.lstrip()
    last = cell[-1] if len(cell) else None
    if last is not None and last.tail:
        last.tail = last.tail.rstrip()
    elif last is None and cell.text:
        cell.text = cell.text.rstrip()


def _is_blank(element) -> bool:
    return not "".join(element.itertext()).strip() and next(element.iter("graphic"), None) is None


def _unwrap_cell(cell) -> None:
    """A cell as a paragraph (inline content) or a container of its blocks; blank cells go."""
    if _is_blank(cell):
        cell.getparent().remove(cell)
        return
    cell.tag = "div" if any(child.tag in _BLOCKS for child in cell) else "p"
    cell.tail = None
    cell.attrib.clear()


def _unwrap_row(row) -> None:
    cells = [cell for cell in row if cell.tag == "cell" and not _is_blank(cell)]
    if not cells:
        row.getparent().remove(row)
        return
    if len(cells) > 1 and not any(child.tag in _BLOCKS for cell in cells for child in cell):
        line = "\t".join(_SPACES.sub(" ", "".join(cell.itertext())).strip() for cell in cells)
        row.clear()   # children, text, tail and attributes
        row.tag, row.text = "p", line
        return
    for cell in [cell for cell in row if cell.tag == "cell"]:
        _unwrap_cell(cell)
    row.tag, row.text, row.tail = "div", None, None
    row.attrib.clear()


def unwrap_tables(tree):
    """Rewrites trafilatura's table elements in its XML `tree` (in place) so that its own text
    serialiser writes them as plain text, as a browser's copy-as-text does:
    - a row of two or more inline cells (a data table) is one line, its cells joined by tabs;
    - otherwise (a layout table: navigation beside content, a post in a one-cell row) each cell is
      a paragraph, or, where it holds paragraphs or headings, a container of them: a line each;
    - blank rows and cells go, and source whitespace inside cells collapses as browsers render it.
    Inner tables go first; rows and cells outside a table (trafilatura can extract a fragment of
    one) are unwrapped too. Returns `tree`."""
    for cell in tree.iter("cell"):   # first, so that the tabs joining a row's cells stay
        _collapse_spaces(cell)
    for table in reversed(list(tree.iter("table"))):   # document order reversed: inner tables first
        for row in list(table.iter("row")):
            _unwrap_row(row)
        table.tag = "div"
        if table.text and not table.text.strip():   # source indentation between rows
            table.text = None
        table.attrib.clear()
    for row in reversed(list(tree.iter("row"))):
        _unwrap_row(row)
    for cell in list(tree.iter("cell")):
        _unwrap_cell(cell)
    return tree


def _trafilatura_text(html: str, url: str, cfg: ExtractConfig) -> str:
    """trafilatura's plain-text output, with tables as plain lines when `plain_tables` is on: the
    same steps as `trafilatura.extract(output_format="txt")` (its `determine_returnstring`), with
    `unwrap_tables` between extraction and serialisation (tests pin the equality on pages
    without tables)."""
    import trafilatura
    options = dict(url=url or None, favor_precision=cfg.favor_precision, include_comments=cfg.include_comments,
                   include_tables=cfg.include_tables, deduplicate=False, with_metadata=False)
    if not cfg.plain_tables:
        return trafilatura.extract(html, **options) or ""
    from trafilatura.utils import normalize_unicode
    from trafilatura.xml import xmltotxt
    document = trafilatura.bare_extraction(html, output_format="txt", **options)   # as extract() calls it
    if document is None:
        return ""
    text = xmltotxt(unwrap_tables(document.body), False)
    if document.commentsbody is not None:
        text = f"{text}\n{xmltotxt(unwrap_tables(document.commentsbody), False)}".strip()
    return normalize_unicode(text)


def extract_main_text(html: str, url: str, cfg: ExtractConfig) -> str:
    """Main text of one HTML page with the configured backend ('' when there is none)."""
    if cfg.backend == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text
        return extract_plain_text(html, main_content=True, alt_texts=False, comments=cfg.include_comments)
    return _trafilatura_text(html, url, cfg)


def extract_document(doc: Document, cfg: ExtractConfig, extractor: Callable[[str, str], str]) -> Outcome:
    """The extract stage for one record: HTML is decoded and extracted; text records pass through."""
    if doc.html is None:
        return doc if doc.text.strip() else Drop(DropReason.NO_TEXT, "record has no text")
    if len(doc.html) > cfg.max_html_mb * (1 << 20):
        return Failure(ErrorKind.TOO_LARGE, f"{len(doc.html)} bytes of HTML > max_html_mb={cfg.max_html_mb}")
    if looks_binary(doc.html):
        return Failure(ErrorKind.BINARY_PAYLOAD, f"declared {doc.content_type or 'HTML'} but the bytes are binary")
    try:
        html, encoding = decode_html(doc.html, doc.charset)
    except (UnicodeError, LookupError) as err:
        return Failure(ErrorKind.CHARSET, f"{doc.charset or 'detected charset'}: {err}")
    started = time.perf_counter()
    try:
        text = extractor(html, doc.url)
    except CallTimeout as err:
        return Failure(ErrorKind.TIMEOUT, str(err))
    except (ChildCrashed, ChildError) as err:
        return Failure(ErrorKind.EXTRACTOR_CRASH, str(err))
    seconds = time.perf_counter() - started
    text = text.strip()
    if not text:
        return Drop(DropReason.NO_TEXT, f"{cfg.backend} found no main text in {len(html)} characters")
    return dataclasses.replace(doc, text=text, html=None, charset=encoding,
                               signals={**doc.signals, "html_chars": float(len(html)), "extract_s": seconds})


class ExtractStep:
    """The extract stage's step for one worker; owns the isolated extraction process."""

    def __init__(self, cfg: ExtractConfig):
        self.cfg = cfg
        if cfg.time_limit_s > 0:
            self._isolated = IsolatedFunction("tokenmill.transforms.extract:extract_main_text",
                                              Limits(seconds=cfg.time_limit_s, memory_mb=cfg.memory_limit_mb))
        else:
            self._isolated = None

    def extract(self, html: str, url: str) -> str:
        if self._isolated is None:
            return extract_main_text(html, url, self.cfg)
        return self._isolated(html, url, self.cfg)

    def __call__(self, doc: Document) -> Outcome:
        return extract_document(doc, self.cfg, self.extract)

    @property
    def helper_cpu_seconds(self) -> float:
        """CPU seconds spent in the isolated extraction process, for the stage's cost."""
        return self._isolated.cpu_seconds if self._isolated is not None else 0.0

    def close(self) -> None:
        if self._isolated is not None:
            self._isolated.close()


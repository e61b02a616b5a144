"""Input formats: which reader a file needs, and the JSONL, Parquet and listing readers.

Each reader takes an open binary stream (from Beam's FileSystems, so local paths, gs:// and
s3:// all work) and yields Documents, plus a ReadFailure for each part it cannot read, so that a
bad line or a truncated file is counted rather than lost. WARC/WET reading is in `warc.py`.
Common Crawl listings (`warc.paths.gz`, `wet.paths.gz`) are expanded into file paths.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Literal

import pyarrow.parquet as pq
import zstandard

from tokenmill.transforms.document import Document, Drop, DropReason, ErrorKind, ReadFailure, derived_id
from tokenmill.transforms.warc import WarcLimits, iter_warc
from tokenmill.transforms.typed_config import check_minimums

Format = Literal["auto", "warc", "jsonl", "parquet", "listing"]


@dataclass(frozen=True)
class InputConfig:
    format: Format = "auto"
    """How to read inputs; `auto` decides by file name (.warc[.gz], .wet[.gz], .jsonl[.gz|.zst], .parquet, .paths[.gz])."""
    listing_prefix: str = "s3://commoncrawl/"
    """Prepended to each line of a Common Crawl listing (`crawl-data/CC-MAIN-...`). Use gs://... for a mirror."""
    limit: int = 0
    """Read at most this many files from each listing (0 = all): `--set input.limit=100`."""
    skip: int = 0
    """Skip this many files at the start of each listing, to take a slice of a dump."""
    max_record_mb: float = 50.0
    """WARC records larger than this (MiB) are counted as `too_large` errors and skipped unread."""

    def warc_limits(self) -> WarcLimits:
        return WarcLimits(max_record_bytes=int(self.max_record_mb * (1 << 20)))

    def __post_init__(self) -> None:
        check_minimums(self, limit=0, skip=0)
        if not 0 < self.max_record_mb < float("inf"):
            raise ValueError(f"max_record_mb must be a positive size in MiB, got {self.max_record_mb}")


def detect_format(path: str) -> Format:
    """The format of a file by its name; raises ValueError for a name no reader claims."""
    name = path.lower().rsplit("/", 1)[-1]
    for suffix in (".gz", ".zst", ".zstd"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    if name.endswith((".warc", ".wet", ".arc")) or name.endswith(".warc.wet"):
        return "warc"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".paths"):
        return "listing"
    raise ValueError(f"cannot tell the format of '{path}' from its name; set input.format")


def iter_records(stream: BinaryIO, source: str, cfg: InputConfig) -> Iterator[Document | ReadFailure]:
    """All records of one data file, in file order."""
    fmt = cfg.format if cfg.format != "auto" else detect_format(source)
    if fmt == "warc":
        return iter_warc(stream, source, cfg.warc_limits())
    if fmt == "jsonl":
        return iter_jsonl(stream, source)
    if fmt == "parquet":
        return iter_parquet(stream, source)
    raise ValueError(f"'{source}' is a listing, not a data file")


def iter_listing(stream: BinaryIO, source: str, cfg: InputConfig) -> Iterator[str]:
    """File paths from a Common Crawl listing: prefix + each line, sliced by skip/limit."""
    lines = (line.strip() for line in _text_lines(_decompressing(stream, source)))
    paths = (line for line in lines if line and not line.startswith("#"))
    stop = cfg.skip + cfg.limit if cfg.limit else None
    for i, path in enumerate(paths):
        if stop is not None and i >= stop:
            return
        if i >= cfg.skip:
            yield path if "://" in path or path.startswith("/") else cfg.listing_prefix + path


def iter_jsonl(stream: BinaryIO, source: str) -> Iterator[Document | ReadFailure]:
    """One Document per JSON line with a string `text`; `id` and `url` are optional."""
    line_no = 0
    try:
        for line_no, line in enumerate(_decompressing(stream, source)):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, UnicodeDecodeError) as err:
                yield ReadFailure(source, line_no, ErrorKind.MALFORMED_RECORD, f"line {line_no + 1}: {err}")
                continue
            yield _row_document(row, source, line_no) or ReadFailure(
                source, line_no, ErrorKind.MISSING_TEXT, f"line {line_no + 1} has no string 'text' field")
    except (EOFError, OSError, zlib.error, zstandard.ZstdError) as err:
        yield ReadFailure(source, line_no, ErrorKind.TRUNCATED, f"after line {line_no + 1}: {err}")


def iter_parquet(stream: BinaryIO, source: str) -> Iterator[Document | ReadFailure]:
    """One Document per row with a string `text`; reads one row group at a time."""
    try:
        parquet = pq.ParquetFile(stream)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for a file that is not Parquet
        yield ReadFailure(source, 0, ErrorKind.MALFORMED_RECORD, f"not a Parquet file: {err}")
        return
    columns = [c for c in ("id", "url", "text") if c in parquet.schema_arrow.names]
    if "text" not in columns:
        yield ReadFailure(source, 0, ErrorKind.MISSING_TEXT, "Parquet file has no 'text' column")
        return
    row_no = 0
    for group in range(parquet.num_row_groups):
        try:
            rows = parquet.read_row_group(group, columns=columns).to_pylist()
        except Exception as err:  # a damaged row group; the others may still be readable
            yield ReadFailure(source, row_no, ErrorKind.MALFORMED_RECORD, f"row group {group}: {err}")
            row_no += parquet.metadata.row_group(group).num_rows
            continue
        for row in rows:
            yield _row_document(row, source, row_no) or ReadFailure(
                source, row_no, ErrorKind.MISSING_TEXT, f"row {row_no} has no string 'text'")
            row_no += 1


def _row_document(row: object, source: str, position: int) -> Document | None:
    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
        return None
    given_id = row.get("id")
    return Document(
        id=str(given_id) if given_id not in (None, "") else derived_id(source, position),
        url=str(row.get("url") or ""), text=row["text"], source=source, offset=position,
        record_type="text", content_type="text/plain")


def _decompressing(stream: BinaryIO, source: str) -> BinaryIO:
    name = source.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=stream)
    if name.endswith((".zst", ".zstd")):
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(stream))
    return stream


def _text_lines(stream: BinaryIO) -> Iterator[str]:
    return (line.decode("utf-8", errors="replace") for line in stream)


HTML_TYPES = ("text/html", "application/xhtml+xml")


PAGE_RECORD_TYPES = ("response", "conversion", "text")


def is_page(doc: Document) -> bool:
    """Whether a record carries a page: a WARC response, a WET conversion or a JSONL/Parquet row.
    Request, metadata, warcinfo and revisit records do not; the reader counts them apart."""
    return doc.record_type in PAGE_RECORD_TYPES


def record_check(doc: Document, cfg: InputConfig, extract_enabled: bool = True) -> Drop | None:
    """The read stage's rule over pages: keep text records and HTML pages of successful responses
    (and those only when the extract stage runs: without it an HTML page has no text)."""
    if doc.record_type in ("text", "conversion"):
        return None
    if doc.html is None:
        return Drop(DropReason.NOT_HTML, f"not an HTTP response: {doc.url[:80]}")
    if not 200 <= doc.http_status < 300:
        return Drop(DropReason.HTTP_STATUS, f"HTTP {doc.http_status}")
    if not doc.html.strip():
        return Drop(DropReason.EMPTY_BODY, "HTTP body is empty")
    declared = doc.content_type.split(";")[0].strip()
    if not (declared in HTML_TYPES or (not declared and _sniff_html(doc.html))):
        return Drop(DropReason.NOT_HTML, f"Content-Type {declared or 'missing'}")
    if not extract_enabled:
        return Drop(DropReason.NOT_EXTRACTED, "an HTML page, and extract.enabled is false")
    return None


def _sniff_html(payload: bytes) -> bool:
    head = payload[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head

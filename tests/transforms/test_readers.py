"""JSONL, Parquet and listing readers, format detection, and the read stage's record rule."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from tokenmill.transforms.document import Document, DropReason, ReadFailure
from tokenmill.transforms.readers import (InputConfig, detect_format, is_page, iter_jsonl, iter_listing, iter_parquet,
                                          record_check)


@pytest.mark.parametrize("path, fmt", [
    ("s3://commoncrawl/crawl-data/CC-MAIN-2024-22/segments/x/warc/a.warc.gz", "warc"),
    ("a.warc.wet.gz", "warc"), ("a.warc", "warc"), ("docs.jsonl.zst", "jsonl"), ("docs.json.gz", "jsonl"),
    ("part-0.parquet", "parquet"), ("warc.paths.gz", "listing"), ("wet.paths", "listing"),
])
def test_detect_format(path, fmt):
    assert detect_format(path) == fmt


def test_unknown_format_is_a_clear_error():
    with pytest.raises(ValueError, match="set input.format"):
        detect_format("notes.docx")


def jsonl_bytes() -> bytes:
    lines = [json.dumps({"id": "a", "url": "https://x.org", "text": "first"}), "",
             "{not json", json.dumps({"text": 5}), json.dumps({"text": "no id here"})]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("wrap, name", [
    (lambda b: b, "d.jsonl"), (gzip.compress, "d.jsonl.gz"),
    (lambda b: zstandard.ZstdCompressor().compress(b), "d.jsonl.zst"),
])
def test_jsonl_rows_and_bad_lines(wrap, name):
    items = list(iter_jsonl(io.BytesIO(wrap(jsonl_bytes())), name))
    docs = [i for i in items if isinstance(i, Document)]
    failures = [i.kind.value for i in items if isinstance(i, ReadFailure)]
    assert [d.text for d in docs] == ["first", "no id here"]
    assert docs[0].id == "a" and docs[0].url == "https://x.org"
    assert len(docs[1].id) == 32   # derived: stable hash of file name and line number
    assert failures == ["malformed_record", "missing_text"]


def test_truncated_gzip_jsonl_is_counted():
    data = gzip.compress(jsonl_bytes() * 200)
    items = list(iter_jsonl(io.BytesIO(data[: len(data) // 2]), "d.jsonl.gz"))
    assert isinstance(items[-1], ReadFailure) and items[-1].kind.value == "truncated"


def test_parquet_rows():
    table = pa.table({"text": ["one", None, "three"], "url": ["u1", "u2", "u3"]})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=2)
    items = list(iter_parquet(io.BytesIO(buf.getvalue()), "p.parquet"))
    assert [i.text if isinstance(i, Document) else i.kind.value for i in items] == ["one", "missing_text", "three"]


def test_not_parquet_is_one_failure():
    items = list(iter_parquet(io.BytesIO(b"PAR1 but not really"), "p.parquet"))
    assert [i.kind.value for i in items] == ["malformed_record"]


def test_listing_prefix_skip_and_limit():
    lines = "\n".join(f"crawl-data/CC-MAIN-2024-22/x/warc/{i}.warc.gz" for i in range(10)).encode()
    cfg = InputConfig(listing_prefix="gs://mirror/", skip=2, limit=3)
    paths = list(iter_listing(io.BytesIO(gzip.compress(lines)), "warc.paths.gz", cfg))
    assert paths == [f"gs://mirror/crawl-data/CC-MAIN-2024-22/x/warc/{i}.warc.gz" for i in (2, 3, 4)]


def response(**kw) -> Document:
    base = dict(id="r", record_type="response", html=b"<html><p>hi</p></html>", http_status=200,
                content_type="text/html")
    return Document(**{**base, **kw})


@pytest.mark.parametrize("doc, reason", [
    (response(), None),
    (Document(id="t", text="plain text", record_type="text"), None),
    (Document(id="w", text="wet text", record_type="conversion"), None),
    (response(content_type="application/xhtml+xml"), None),
    (response(content_type="", html=b"<!DOCTYPE html><html></html>"), None),       # sniffed
    (response(html=None, content_type="text/dns"), DropReason.NOT_HTML),            # dns: records
    (response(content_type="image/jpeg", html=b"\xff\xd8"), DropReason.NOT_HTML),
    (response(content_type="", html=b"%PDF-1.4"), DropReason.NOT_HTML),
    (response(http_status=301, html=b" "), DropReason.HTTP_STATUS),
    (response(http_status=404), DropReason.HTTP_STATUS),
    (response(html=b"  \r\n"), DropReason.EMPTY_BODY),
])
def test_record_check(doc, reason):
    verdict = record_check(doc, InputConfig())
    assert (verdict.reason if verdict else None) == reason


@pytest.mark.parametrize("doc, extract_enabled, reason", [
    (response(), False, DropReason.NOT_EXTRACTED),                  # an HTML page has no text without extraction
    (Document(id="t", text="plain text", record_type="text"), False, None),
    (Document(id="w", text="wet text", record_type="conversion"), False, None),
    (response(content_type="image/jpeg", html=b"\xff\xd8"), False, DropReason.NOT_HTML),
])
def test_record_check_without_extraction(doc, extract_enabled, reason):
    verdict = record_check(doc, InputConfig(), extract_enabled=extract_enabled)
    assert (verdict.reason if verdict else None) == reason


@pytest.mark.parametrize("record_type, page", [
    ("response", True), ("conversion", True), ("text", True),
    ("request", False), ("metadata", False), ("warcinfo", False), ("revisit", False), ("resource", False),
])
def test_only_responses_conversions_and_rows_are_pages(record_type, page):
    assert is_page(Document(id="x", record_type=record_type)) is page

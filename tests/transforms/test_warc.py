"""WARC reading on real files, and on the damage real crawls contain."""

from __future__ import annotations

import gzip
import io
from collections import Counter

import pytest

from tokenmill.transforms.document import Document, ReadFailure
from tokenmill.transforms.warc import WarcLimits, iter_warc

from testdata import AUT, warc

DOLMA = warc("dolma__crawl-2024_sample-0000.warc.gz")


def read(data: bytes, limits: WarcLimits = WarcLimits()):
    items = list(iter_warc(io.BytesIO(data), "f.warc.gz", limits))
    types = Counter(i.record_type for i in items if isinstance(i, Document))
    failures = [(f.kind.value, f.offset) for f in items if isinstance(f, ReadFailure)]
    return types, failures


@pytest.fixture(scope="module")
def per_record_gzip() -> bytes:
    return DOLMA.read_bytes()


def test_real_files_read_completely():
    expected = {  # record counts by type, from tests/data/SOURCES.md and an independent FastWARC pass
        AUT: {"warcinfo": 1, "response": 156, "request": 132, "metadata": 131},
        "dolma__crawl-2024_sample-0000.warc.gz": {"warcinfo": 1, "request": 22, "response": 22, "metadata": 1, "resource": 2},
        "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz": {"warcinfo": 1, "request": 17, "response": 16, "metadata": 16},
        "whirlwind__CC-MAIN-2024-22_whirlwind.warc.wet.gz": {"warcinfo": 1, "conversion": 1},
    }
    for name, counts in expected.items():
        types, failures = read(warc(name).read_bytes())
        assert dict(types) == counts, name
        assert failures == [], name


def test_response_fields_and_wget_bracketed_uris(per_record_gzip):
    docs = [d for d in iter_warc(io.BytesIO(per_record_gzip), "f") if isinstance(d, Document)]
    response = next(d for d in docs if d.record_type == "response")
    assert response.url.startswith("http") and not response.url.startswith("<")
    assert response.id.startswith("urn:uuid:")
    assert response.http_status == 200 and response.content_type.startswith("text/html")
    assert response.html and b"<" in response.html


def test_whole_file_gzip_and_plain_files_read_the_same(per_record_gzip):
    raw = gzip.decompress(per_record_gzip)
    expected, _ = read(per_record_gzip)
    assert read(gzip.compress(raw)) == (expected, [])
    assert read(raw) == (expected, [])


@pytest.mark.parametrize("damage, kind", [
    (lambda d: d[: len(d) // 2], "truncated"),                                       # cut inside a gzip member
    (lambda d: d[: len(d) // 2] + bytes(200) + d[len(d) // 2 + 200:], "decompression"),  # corrupt bytes
])
def test_damaged_gzip_counts_one_failure_and_keeps_the_rest(per_record_gzip, damage, kind):
    intact, _ = read(per_record_gzip)
    types, failures = read(damage(per_record_gzip))
    assert [f[0] for f in failures] == [kind]
    assert 0 < sum(types.values()) < sum(intact.values())
    if kind == "decompression":   # resynchronised: only the damaged record is lost
        assert sum(types.values()) == sum(intact.values()) - 1


def test_truncated_plain_file_is_one_failure(per_record_gzip):
    raw = gzip.decompress(per_record_gzip)
    types, failures = read(raw[: len(raw) // 2])
    assert [f[0] for f in failures] == ["truncated"]
    assert sum(types.values()) > 10


def test_garbage_between_records_is_skipped_to_the_next_header(per_record_gzip):
    raw = gzip.decompress(per_record_gzip)
    at = raw.find(b"WARC/1.", 50_000)
    types, failures = read(raw[:at] + b"this is not a WARC header\r\n\r\n" + raw[at:])
    intact, _ = read(per_record_gzip)
    assert types == intact
    assert [f[0] for f in failures] == ["malformed_record"]


@pytest.mark.parametrize("data", [b"", b"garbage" * 100, bytes(range(256)) * 10])
def test_junk_files_give_failures_not_exceptions(data):
    types, failures = read(data)
    assert not types
    assert len(failures) <= 1


def test_oversized_record_is_skipped_unread(per_record_gzip):
    intact, _ = read(per_record_gzip)
    types, failures = read(per_record_gzip, WarcLimits(max_record_bytes=20_000))
    assert failures and {f[0] for f in failures} == {"too_large"}
    assert sum(types.values()) + len(failures) == sum(intact.values())


def response_record(http: bytes) -> bytes:
    return (b"WARC/1.1\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
            b"WARC-Target-URI: http://x.example/\r\nContent-Type: application/http; msgtype=response\r\n"
            b"Content-Length: " + str(len(http)).encode() + b"\r\n\r\n" + http + b"\r\n\r\n")


def test_gzip_content_encoding_and_chunked_bodies_are_decoded():
    page = "<html><body><p>Grüße, ein gzip-kodierter Körper.</p></body></html>".encode()
    gz = gzip.compress(page)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(gz), gz)
    http = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Encoding: gzip\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    (doc,) = list(iter_warc(io.BytesIO(response_record(http)), "f.warc"))
    assert doc.html == page and doc.charset == "utf-8" and doc.http_status == 200


def test_broken_gzip_body_is_a_failure_of_that_record_only():
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\r\n" + b"\x1f\x8b\x08garbage"
    good = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>fine</p>"
    items = list(iter_warc(io.BytesIO(response_record(http) + response_record(good)), "f.warc"))
    assert isinstance(items[0], ReadFailure) and items[0].kind.value == "decompression"
    assert isinstance(items[1], Document) and items[1].html == b"<p>fine</p>"

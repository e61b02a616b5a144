"""Robust WARC reading: gzip-member and record framing of our own, record parsing by FastWARC.

Why not hand the whole file to `fastwarc.ArchiveIterator`? Measured on real files: it stops
silently at a truncated gzip member (the rest of the file is lost without an error) and gives up
at the first malformed header. A crawl is full of both. So this module frames the file itself:
it walks gzip members with zlib (per-record gzip as Common Crawl writes it, whole-file gzip and
plain files alike), cuts WARC records by their Content-Length, and on damage reports a
`ReadFailure` with the byte offset and resynchronises at the next gzip member or `WARC/` line.
Each complete record is then parsed by FastWARC (HTTP headers, chunked and gzip/brotli bodies).

References: WARC 1.1 (ISO 28500:2017), https://iipc.github.io/warc-specifications/;
FastWARC, https://resiliparse.chatnoir.eu/en/stable/man/fastwarc.html.
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from fastwarc.warc import ArchiveIterator

from tokenmill.transforms.document import Document, ErrorKind, ReadFailure

GZIP_MAGIC = b"\x1f\x8b\x08"
CHUNK = 1 << 20          # decompressed bytes handed to the framer at a time
COMPRESSED_CHUNK = 1 << 16
# Compressed input is fed in small pieces: zlib copies the unconsumed rest into `unused_data` at
# the end of every member, which made per-record gzip quadratic in the read size.
_WARC_START = re.compile(rb"(?:^|\n)WARC/\d+\.\d+\r?\n")   # 1.0, 1.1, and Heritrix's pre-standard 0.17
_CONTENT_LENGTH = re.compile(rb"\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class WarcLimits:
    max_record_bytes: int = 50 << 20
    """Records larger than this (headers + block, bytes) are skipped as `too_large` errors."""


@dataclass(frozen=True)
class _Chunk:
    origin: int    # file offset of the gzip member this data came from, or of data[0] in a plain file
    data: bytes
    plain: bool    # plain file: offsets inside the chunk are exact; gzip: the member offset is used


def iter_warc(stream: BinaryIO, source: str, limits: WarcLimits = WarcLimits()) -> Iterator[Document | ReadFailure]:
    """Yields one Document per WARC record of `stream`, and a ReadFailure per damaged region."""
    for item in _frame_records(_decompressed(stream, source), source, limits):
        yield item if isinstance(item, ReadFailure) else _parse_record(item[1], source, item[0])


def _decompressed(stream: BinaryIO, source: str) -> Iterator[_Chunk | ReadFailure]:
    """The file's bytes, gunzipped member by member when it is gzip; failures in between."""
    head = stream.read(COMPRESSED_CHUNK)
    if not head.startswith(GZIP_MAGIC):
        pos = 0
        while head:
            yield _Chunk(pos, head, plain=True)
            pos += len(head)
            head = stream.read(CHUNK)
        return
    pending, pos = head, 0          # compressed bytes not yet fed; file offset of pending[0]
    while pending:
        member_start, inflater = pos, zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            while not inflater.eof:
                if not pending:
                    pending = stream.read(COMPRESSED_CHUNK)
                    if not pending:
                        yield ReadFailure(source, member_start, ErrorKind.TRUNCATED,
                                          "gzip member ends before its end marker")
                        return
                fed = len(pending)
                data = inflater.decompress(pending, CHUNK)
                pending = inflater.unconsumed_tail or inflater.unused_data
                pos += fed - len(pending)
                if data:
                    yield _Chunk(member_start, data, plain=False)
        except zlib.error as err:
            yield ReadFailure(source, member_start, ErrorKind.DECOMPRESSION, f"gzip: {err}")
            pending, pos = _resync_gzip(stream, member_start + 1)
            continue
        pending = pending or stream.read(COMPRESSED_CHUNK)
        if pending and not pending.startswith(GZIP_MAGIC):
            if not pending.strip(b"\0\r\n\t "):   # padding after the last member
                pos += len(pending)
                pending = stream.read(COMPRESSED_CHUNK)
                continue
            yield ReadFailure(source, pos, ErrorKind.DECOMPRESSION, "bytes between gzip members that are not gzip")
            pending, pos = _resync_gzip(stream, pos + 1)


def _resync_gzip(stream: BinaryIO, start: int) -> tuple[bytes, int]:
    """Finds the next gzip member at or after `start`; returns its first bytes and offset."""
    stream.seek(start)
    pos, carry = start, b""
    while True:
        block = stream.read(CHUNK)
        if not block:
            return b"", pos
        window = carry + block
        hit = window.find(GZIP_MAGIC)
        if hit >= 0:
            return window[hit:], pos - len(carry) + hit
        carry = window[-(len(GZIP_MAGIC) - 1):]
        pos += len(block)


class _Buffer:
    """Decompressed bytes not yet framed, remembering which file offset each part came from.

    Consumed bytes are skipped by moving `start`, and only compacted once they are the larger
    part: deleting the front of a 1 MiB buffer for every record made reading quadratic.
    """

    def __init__(self) -> None:
        self.data = bytearray()
        self.start = 0
        self._origins: list[tuple[int, _Chunk]] = []   # (absolute position in data, chunk) per chunk

    def __len__(self) -> int:
        return len(self.data) - self.start

    def append(self, chunk: _Chunk, data: bytes) -> None:
        if self.start > len(self.data) // 2:
            self._compact()
        self._origins.append((len(self.data), chunk))
        self.data += data

    def offset(self) -> int:
        """File offset of the first unconsumed byte: exact in plain files, the gzip member's offset otherwise."""
        at, chunk = self._origins[0] if self._origins else (0, None)
        if chunk is None:
            return 0
        return chunk.origin + (self.start - at) if chunk.plain else chunk.origin

    def drop_front(self, n: int) -> None:
        self.start += n
        while len(self._origins) > 1 and self._origins[1][0] <= self.start:
            self._origins.pop(0)

    def _compact(self) -> None:
        del self.data[: self.start]
        self._origins = [(at - self.start, chunk) for at, chunk in self._origins]
        self.start = 0

    def clear(self) -> None:
        self.data.clear()
        self.start = 0
        self._origins.clear()


def _frame_records(chunks: Iterator[_Chunk | ReadFailure], source: str,
                   limits: WarcLimits) -> Iterator[tuple[int, bytes] | ReadFailure]:
    """Cuts the decompressed byte stream into (file offset, record bytes) by Content-Length."""
    buf = _Buffer()
    skip = 0            # bytes of an oversized record still to discard
    tail_failed = False  # the decompressor already reported the end of the file as damaged
    for chunk in chunks:
        if isinstance(chunk, ReadFailure):
            yield chunk
            buf.clear()
            skip, tail_failed = 0, True
            continue
        tail_failed = False
        data = chunk.data
        if skip:
            taken = min(skip, len(data))
            skip, data = skip - taken, data[taken:]
            if not data:
                continue
        buf.append(chunk, data)
        while (taken := _next_record(buf, source, limits)) is not None:
            item, skip = taken
            yield item
    if (buf.data[buf.start:].strip(b"\0\r\n\t ") or skip) and not tail_failed:
        yield ReadFailure(source, buf.offset(), ErrorKind.TRUNCATED, "file ends inside a WARC record")


def _next_record(buf: _Buffer, source: str,
                 limits: WarcLimits) -> tuple[tuple[int, bytes] | ReadFailure, int] | None:
    """Takes the next record or failure off the front of `buf`, or None when more bytes are needed.

    Returns (item, skip): `skip` counts the bytes of an oversized record that are still to come
    in the stream and must be discarded unread.
    """
    buf.drop_front(_skip_separators(buf.data, buf.start))
    data, start, available = buf.data, buf.start, len(buf)
    if not available:
        return None
    if not data.startswith(b"WARC/", start):
        if available < 8:
            return None
        failure = ReadFailure(source, buf.offset(), ErrorKind.MALFORMED_RECORD,
                              f"no WARC header here: {bytes(data[start:start + 40])!r}")
        found = _WARC_START.search(data, start + 1)
        buf.drop_front((found.end() - len(found.group().lstrip(b"\n")) - start) if found else available)
        return failure, 0
    header_end = data.find(b"\r\n\r\n", start)
    if header_end < 0:
        if available <= 1 << 16:
            return None
        failure = ReadFailure(source, buf.offset(), ErrorKind.MALFORMED_RECORD, "WARC header without end")
        buf.drop_front(1)
        return failure, 0
    length = _CONTENT_LENGTH.search(data, start, header_end + 2)
    if not length:
        failure = ReadFailure(source, buf.offset(), ErrorKind.MALFORMED_RECORD, "WARC header without Content-Length")
        buf.drop_front(header_end + 4 - start)
        return failure, 0
    total = header_end + 4 - start + int(length.group(1))
    if total > limits.max_record_bytes:
        failure = ReadFailure(source, buf.offset(), ErrorKind.TOO_LARGE,
                              f"record of {total} bytes > max_record_bytes={limits.max_record_bytes}")
        remaining = max(total - available, 0)
        buf.drop_front(min(total, available))
        return failure, remaining
    if available < total:
        return None
    record = (buf.offset(), bytes(data[start:start + total]))
    buf.drop_front(total)
    return record, 0


def _skip_separators(data: bytearray, start: int) -> int:
    """Number of CR/LF bytes at `start` (the blank lines between records)."""
    n = start
    while n < len(data) and data[n] in (0x0D, 0x0A):
        n += 1
    return n - start


def _parse_record(raw: bytes, source: str, offset: int) -> Document | ReadFailure:
    """Parses one complete record with FastWARC into a Document (payload kept for responses)."""
    try:
        record = next(iter(ArchiveIterator(io.BytesIO(raw), parse_http=False)))
    except (OSError, StopIteration) as err:
        return ReadFailure(source, offset, ErrorKind.MALFORMED_RECORD, f"WARC record: {err}")
    headers = record.headers.asdict()   # one conversion: HeaderMap.get costs ~3 us a call
    fields = {  # collected first: one Document construction is much cheaper than dataclasses.replace
        "id": headers.get("WARC-Record-ID", "").strip("<>") or f"{source}@{offset}",
        "url": headers.get("WARC-Target-URI", "").strip().strip("<>"),   # wget writes <uri>
        "source": source, "offset": offset, "record_type": headers.get("WARC-Type", "").lower(),
        "date": headers.get("WARC-Date", ""), "content_type": headers.get("Content-Type", ""),
    }
    if fields["record_type"] == "conversion":
        text = record.reader.read().decode("utf-8", errors="replace")
        return Document(**{**fields, "text": text, "content_type": "text/plain"})
    if fields["record_type"] != "response":
        return Document(**fields)
    is_http = fields["content_type"].lower().startswith("application/http") or fields["url"].startswith("http")
    if not is_http:
        return Document(**{**fields, "content_type": fields["content_type"] or "unknown"})
    try:
        record.parse_http(auto_decode="all", quirks_mode=True)   # quirks: LF-only headers exist in the wild
        body = record.reader.read()
    except (OSError, ValueError) as err:
        kind = ErrorKind.DECOMPRESSION if "ecompress" in str(err) else ErrorKind.MALFORMED_RECORD
        return ReadFailure(source, offset, kind, f"HTTP payload: {err}")
    http = record.http_headers
    if http is None:
        return ReadFailure(source, offset, ErrorKind.MALFORMED_RECORD, "response without HTTP headers")
    return Document(**{**fields, "http_status": int(http.status_code or 0), "html": body,
                       "content_type": (record.http_content_type or "").lower(),
                       "charset": (record.http_charset or "").lower()})

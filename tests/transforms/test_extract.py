"""Charset decoding, binary detection, extraction on real pages, and the isolation limits."""

from __future__ import annotations

import dataclasses
import io

import pytest

from tokenmill.transforms.document import Document, Drop, DropReason, Failure
from tokenmill.transforms.extract import ExtractConfig, ExtractStep, decode_html, looks_binary
from tokenmill.transforms.isolated import CallTimeout, ChildCrashed, ChildError, IsolatedFunction, Limits
from tokenmill.transforms.warc import iter_warc

from testdata import warc

PAGE = "<html><head><title>T</title></head><body><p>{}</p></body></html>"


@pytest.mark.parametrize("payload, declared, encoding, text", [
    (PAGE.format("Привет, мир").encode("windows-1251"), "windows-1251", "cp1251", "Привет, мир"),
    (('<meta charset="gb2312">' + PAGE.format("你好，世界。" * 20)).encode("gb2312"), "", "gbk", "你好，世界"),
    (PAGE.format("Grüße aus Köln").encode("utf-8"), "", "utf-8", "Grüße aus Köln"),
    (b"\xef\xbb\xbf" + PAGE.format("BOM first").encode(), "iso-8859-1", "utf-8", "BOM first"),
    (PAGE.format("déjà vu").encode("utf-8"), "no-such-charset", "utf-8", "déjà vu"),
])
def test_decode_html(payload, declared, encoding, text):
    html, used = decode_html(payload, declared)
    assert used == encoding and text in html


def test_binary_payloads_are_recognised():
    assert looks_binary(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100))
    assert not looks_binary(PAGE.format("x").encode())


def real_pages() -> list[Document]:
    stream = io.BytesIO(warc("resiliparse__CC-MAIN-2020-34_excerpt.warc.gz").read_bytes())
    return [d for d in iter_warc(stream, "cc") if isinstance(d, Document) and d.record_type == "response"]


@pytest.mark.parametrize("backend", ["trafilatura", "resiliparse"])
def test_extracts_real_pages_in_their_charsets(backend):
    step = ExtractStep(ExtractConfig(backend=backend, time_limit_s=30))
    try:
        outcomes = [step(d) for d in real_pages()]
    finally:
        step.close()
    texts = [o.text for o in outcomes if isinstance(o, Document)]
    assert len(texts) >= 12
    assert all(o.html is None and o.charset for o in outcomes if isinstance(o, Document))
    joined = "\n".join(texts)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in joined)     # Chinese from gb2312 pages
    assert any("\u0400" <= ch <= "\u04ff" for ch in joined)     # Cyrillic from windows-1251 pages
    assert "\ufffd" not in joined[:2000]


@pytest.mark.parametrize("doc, expected", [
    (Document(id="t", text="already text"), Document),
    (Document(id="e", text="  "), DropReason.NO_TEXT),
    (Document(id="b", html=bytes(range(256)) * 4), "binary_payload"),
    (Document(id="big", html=b"<p>" + b"a" * (2 << 20)), "too_large"),
    (Document(id="n", html=b"<html><body><script>var x = 1;</script></body></html>"), DropReason.NO_TEXT),
])
def test_extract_step_outcomes(doc, expected):
    step = ExtractStep(ExtractConfig(max_html_mb=1.0, time_limit_s=0))
    outcome = step(doc)
    if expected is Document:
        assert outcome == doc
    elif isinstance(expected, DropReason):
        assert isinstance(outcome, Drop) and outcome.reason == expected
    else:
        assert isinstance(outcome, Failure) and outcome.kind.value == expected


def test_time_limit_turns_a_slow_page_into_a_timeout_error():
    page = real_pages()[0]
    big = dataclasses.replace(page, html=page.html * 40)
    step = ExtractStep(ExtractConfig(time_limit_s=0.01, max_html_mb=50))
    try:
        outcome = step(big)
        assert isinstance(outcome, Failure) and outcome.kind.value == "timeout"
        step.cfg = ExtractConfig(time_limit_s=30)   # the child was restarted and works again
        step._isolated._limits = Limits(seconds=30)
        assert isinstance(step(page), Document)
    finally:
        step.close()


def test_isolated_function_limits():
    sleeper = IsolatedFunction("time:sleep", Limits(seconds=0.5))
    try:
        with pytest.raises(CallTimeout):
            sleeper(5)
        assert sleeper(0) is None                              # restarted after the kill
    finally:
        sleeper.close()
    exiter = IsolatedFunction("os:_exit", Limits(seconds=5))
    with pytest.raises(ChildCrashed):
        exiter(3)
    hog = IsolatedFunction("builtins:bytearray", Limits(seconds=10, memory_mb=300))
    try:
        with pytest.raises(ChildError, match="MemoryError"):
            hog(1 << 30)
    finally:
        hog.close()

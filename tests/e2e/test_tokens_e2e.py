"""End to end: `tokenmill run` on the real WARC files, then the trainer on those very shards."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tokenmill.model.data import load_manifest, load_split
from tokenmill.pipelines.cli import main as cli_main

from testdata import REAL_WARCS


@pytest.mark.e2e
def test_shards_of_a_real_run_load_in_the_trainer_and_the_counts_agree(tmp_path):
    out = tmp_path / "run"
    assert cli_main(["run", "--input", *map(str, REAL_WARCS), "--output", str(out), "--config", "tiny"]) == 0
    report = json.loads((out / "report" / "report.json").read_text())
    manifest = load_manifest(out / "tokens")
    # The manifest's count is the sum over the shard files themselves, and the report repeats it.
    on_disk = 0
    for info in manifest.shards:
        path = out / "tokens" / info.path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == info.sha256
        table = pq.read_table(path)
        listed = sum(len(t) for t in table.column("tokens").to_pylist())
        assert listed == sum(table.column("n_tokens").to_pylist()) == info.tokens
        on_disk += info.tokens
    assert manifest.total_tokens == on_disk == report["output"]["tokens"] > 30_000   # 49k after the filters
    assert report["output"]["shards"] == len(manifest.shards) and {s.split for s in manifest.shards} == {"train", "val"}
    assert sum(s.rows for s in manifest.shards) == report["output"]["documents"]
    assert hashlib.sha256((out / "tokenizer" / "tokenizer.model").read_bytes()).hexdigest() == manifest.tokenizer_sha256

    train = load_split(out / "tokens", manifest, "train")
    assert len(train.stream) == sum(s.tokens + s.rows for s in manifest.split("train"))
    model_dir = tmp_path / "model"
    assert cli_main(["train", "--data", str(out / "tokens"), "--output", str(model_dir), "--config", "tiny",
                     "--set", "train.max_steps=10", "--set", "train.eval_interval=10", "--set", "train.eval_batches=2",
                     "--set", "train.log_interval=5", "--set", "train.cpu_threads=1"]) == 0
    log = [json.loads(line) for line in (model_dir / "train_log.jsonl").read_text().splitlines()]
    assert abs(log[0]["val_loss"] - math.log(manifest.vocab_size)) < 0.2
    assert log[-1]["step"] == 10 and log[-1]["loss"] < log[0]["val_loss"] and "val_loss" in log[-1]

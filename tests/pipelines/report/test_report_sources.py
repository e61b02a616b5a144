"""report_sources: token shards (in the shared shard format) and training logs reach the report."""

from __future__ import annotations

import hashlib
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokenmill.pipelines.report import build_report, invariant_problems, load_report, write_report
from tokenmill.pipelines.report_sources import CURVE_POINTS, read_train_log
from tokenmill.transforms.token_shards import MANIFEST_NAME, Manifest, ShardInfo, shard_schema


def _write_shards(tokens_dir, lengths_by_shard: dict[tuple[str, str], list[int]]) -> Manifest:
    """Token shards and manifest.json written with the schema the tokenize stage and trainer share."""
    tokens_dir.mkdir(parents=True)
    infos = []
    for (name, split), lengths in lengths_by_shard.items():
        table = pa.table({"id": [f"{name}-{i}" for i in range(len(lengths))],
                          "tokens": [list(range(n)) for n in lengths],
                          "n_tokens": lengths}, schema=shard_schema(32000))
        pq.write_table(table, tokens_dir / name, compression="zstd")
        sha = hashlib.sha256((tokens_dir / name).read_bytes()).hexdigest()
        infos.append(ShardInfo(name, split, len(lengths), sum(lengths), sha))
    manifest = Manifest("0" * 64, 32000, 1, 2, 0, tuple(infos))
    (tokens_dir / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    return manifest


@pytest.mark.e2e
def test_token_shards_give_tokens_per_shard_and_per_document(run_a, run_a_report, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_a, run)
    manifest = _write_shards(run / "tokens", {("train-00000.parquet", "train"): [3, 40, 400, 4000],
                                              ("val-00000.parquet", "val"): [50]})
    stages = [s["name"] for s in run_a_report["stages"]]
    report = build_report(str(run), stages, run_a_report["run"], run_a_report["input"]["patterns"])
    assert report["output"]["tokens"] == manifest.total_tokens == 4493
    assert report["output"]["shards"] == 2
    assert [(s["path"], s["split"], s["rows"], s["tokens"]) for s in report["output"]["token_shards"]] == [
        ("train-00000.parquet", "train", 4, 4443), ("val-00000.parquet", "val", 1, 50)]
    lengths = report["output"]["tokens_per_document"]
    assert sum(lengths["counts"]) == 5 and len(lengths["counts"]) == len(lengths["edges"]) + 1
    assert invariant_problems(report) == []
    write_report(str(run), report)
    html = (run / "report" / "index.html").read_text(encoding="utf-8")
    assert "Tokens per shard" in html and "Document length (tokens)" in html
    assert load_report(str(run))["output"]["tokens"] == 4493


def test_train_log_is_thinned_and_keeps_the_last_step(tmp_path):
    log = tmp_path / "train_log.jsonl"
    steps = range(2500)
    log.write_text("".join(json.dumps({"step": s, "loss": 10 / (s + 1), "lr": 0.001}) + "\n" for s in steps)
                   + json.dumps({"step": 2500, "val_loss": 0.5}) + "\n\n", encoding="utf-8")
    training = read_train_log(str(log))
    assert len(training["steps"]) <= CURVE_POINTS + 1
    assert training["steps"][0] == 0 and training["steps"][-1] == 2499
    assert training["steps"] == sorted(training["steps"]) and len(training["steps"]) == len(training["loss"])
    assert training["val_loss"] == [[2500, 0.5]]
    assert training["last"] == {"step": 2500, "val_loss": 0.5}


def test_bad_train_logs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_train_log(str(tmp_path / "nothing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        read_train_log(str(bad))
    lossless = tmp_path / "lossless.jsonl"
    lossless.write_text('{"step": 1, "lr": 0.1}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="no step with a loss"):
        read_train_log(str(lossless))

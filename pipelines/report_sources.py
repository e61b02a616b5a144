"""What the report reads besides `stats/`: the token manifest and shards, and a training log.

- `tokens/manifest.json` (DESIGN.md section 2) gives tokens per shard; the shards' `n_tokens`
  column gives the document length in tokens, binned with the same log-spaced edges as the
  length in characters so the two plots compare.
- A training run points at this data with `tokenmill report DIR --train-log RUN/train_log.jsonl`
  (or the trainer's output directory): the log's loss curve, thinned to at most `CURVE_POINTS`
  points, is stored in `report.json` under `training`, so the page can be rebuilt from
  `report.json` alone. The trainer's log has one JSON object per logged step with at least
  `step` and `loss`, and `val_loss` on evaluation steps (DESIGN.md section 2).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from tokenmill.transforms.stats import HISTOGRAM_EDGES, Histogram

CURVE_POINTS = 1000
TRAIN_LOG_NAME = "train_log.jsonl"


def read_manifest(out_dir: str) -> dict | None:
    path = FileSystems.join(out_dir, "tokens", "manifest.json")
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))


def token_shards(manifest: dict) -> list[dict]:
    """Per shard: path (relative to tokens/), split, rows and tokens, in manifest order."""
    return [{k: s.get(k) for k in ("path", "split", "rows", "tokens")} for s in manifest.get("shards", [])]


def tokens_per_document(out_dir: str, manifest: dict) -> dict | None:
    """Histogram {edges, counts} of `n_tokens` over every shard's rows; None without shards."""
    hist = Histogram.named("chars")
    found = False
    for shard in manifest.get("shards", []):
        path = FileSystems.join(out_dir, "tokens", shard["path"])
        if not FileSystems.exists(path):
            continue
        with FileSystems.open(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(columns=["n_tokens"]):
                found = True
                for n in batch.column(0).to_pylist():
                    hist.add(float(n))
    return {"edges": list(HISTOGRAM_EDGES["chars"]), "counts": hist.counts} if found else None


def _thin(points: list, limit: int) -> list:
    """At most `limit` evenly spaced points, always keeping the last one."""
    if len(points) <= limit:
        return points
    step = math.ceil(len(points) / limit)
    kept = points[::step]
    return kept if kept[-1] is points[-1] else kept + [points[-1]]


def read_train_log(path: str) -> dict:
    """The `training` section of report.json from a trainer's train_log.jsonl (or its directory).

    Raises FileNotFoundError for a missing log and ValueError for a log with no loss in it.
    """
    log = Path(path)
    if log.is_dir():
        log = log / TRAIN_LOG_NAME
    if not log.is_file():
        raise FileNotFoundError(f"{log}: no such training log")
    train, val, last = [], [], {}
    with log.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{log}:{line_no}: not JSON ({err})") from None
            if not isinstance(entry, dict) or "step" not in entry:
                continue
            if isinstance(entry.get("loss"), (int, float)):
                train.append((entry["step"], float(entry["loss"])))
            if isinstance(entry.get("val_loss"), (int, float)):
                val.append((entry["step"], float(entry["val_loss"])))
            last = entry
    if not train:
        raise ValueError(f"{log}: no step with a loss in it")
    train = _thin(train, CURVE_POINTS)
    return {
        "log": str(log.resolve()), "steps": [s for s, _ in train], "loss": [v for _, v in train],
        "val_loss": [list(p) for p in _thin(val, CURVE_POINTS)],
        "last": {k: v for k, v in last.items() if isinstance(v, (int, float, str))},
    }

"""Detoxify backend throughput on CPU and on CUDA: batch size and float16, through the stage step.

The real Detoxify loading and scoring code (`toxicity.backend: detoxify`) on a checkpoint with
Detoxify `original`'s architecture (BERT-base, 6 labels) and random weights (no real checkpoint
can be fetched here; the compute is the real model's, the scores are meaningless), scoring the
real news articles of the scrapinghub benchmark (--data DIR/html/) in 500-character chunks as
the pipeline does. Every row runs in the same process and sitting; the ratio is against the CPU
row at the default batch size. On a machine without CUDA only the CPU rows are printed.

    .venv/bin/python bench/bench_detoxify.py --data DIR [--docs 200] [--cpu-docs 20]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_toxicity import _time_backend, detoxify_bert_base, news_articles  # noqa: E402
from common import add_data_argument, data_dir, print_table  # noqa: E402

from tokenmill.transforms.document import Document  # noqa: E402
from tokenmill.transforms.toxicity import ToxicityConfig  # noqa: E402


def rows_for(cfg: ToxicityConfig, docs: list[Document], cpu_docs: int) -> list[dict]:
    """CPU at the default batch size (the reference), then CUDA at several batch sizes, fp32 and fp16."""
    import torch

    default_batch = ToxicityConfig().batch_size
    rows = [_time_backend("detoxify BERT-base, CPU, float32", "news", ToxicityConfig(
        **{**cfg.__dict__, "batch_size": default_batch, "device": "cpu"}), docs[:cpu_docs])]
    if not torch.cuda.is_available():
        print("no CUDA device: CPU row only", file=sys.stderr)
        return rows
    for half in (False, True):
        for batch in (16, 64, 256):
            rows.append(_time_backend(
                f"detoxify BERT-base, {torch.cuda.get_device_name()}, {'float16' if half else 'float32'}", "news",
                ToxicityConfig(**{**cfg.__dict__, "batch_size": batch, "device": "cuda", "half_precision": half}),
                docs))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200, help="news articles per CUDA row")
    parser.add_argument("--cpu-docs", type=int, default=20, help="news articles in the CPU row (it is slow)")
    add_data_argument(parser, "html")
    args = parser.parse_args(argv)
    args.data = data_dir(args, "html")
    docs = [Document(id=str(i), text=t) for i, t in enumerate(news_articles(args.data, args.docs))]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = detoxify_bert_base(Path(tmp), {w.lower() for d in docs for w in re.findall(r"\w+", d.text)})
        rows = rows_for(cfg, docs, args.cpu_docs)
    reference = rows[0]["chunks_per_s"]
    for row in rows:
        row["vs_cpu"] = round(row["chunks_per_s"] / reference, 1)
        row.pop("e5_share", None)
        row.pop("above_0.9", None)
    print_table("Detoxify (BERT-base architecture, random weights) through the toxicity stage step", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

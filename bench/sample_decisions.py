"""Ten kept and ten dropped documents per filter stage (url, language, quality), for a human check.

Runs the pipeline (the `tiny` preset unless told otherwise, full rejects kept) on the real WARCs
in --data DIR/warc/ (or --input), checks the report's accounting invariant, and prints for each stage a
sample of documents it kept and dropped, with the reason and detail of each drop and the start
of each text. A document kept by a stage is one that reached the end or was dropped later.

    .venv/bin/python bench/sample_decisions.py --data DIR | --input GLOB [--config tiny] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import glob
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions

from tokenmill.pipelines.config import load_config
from tokenmill.pipelines.report import build_report, invariant_problems
from tokenmill.pipelines.run import run_job
from tokenmill.transforms.document import stable_hash

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_data_argument, data_dir  # noqa: E402

STAGES = ("url", "language", "quality")
ROOT = Path(__file__).resolve().parents[1]


def _rows(out: Path, part: str) -> list[dict]:
    files = sorted((out / part).glob("*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def _snippet(text: str, chars: int) -> str:
    return " ".join((text or "").split())[:chars]


def _show(title: str, rows: list[dict], k: int, chars: int) -> None:
    print(f"\n--- {title}: {len(rows)} in all, {min(k, len(rows))} shown")
    for row in sorted(rows, key=lambda r: stable_hash(r["id"]))[:k]:
        why = f"[{row['reason']}] {row.get('detail', '')}" if "reason" in row else \
            f"[kept] lang={row.get('lang', '')} {row.get('lang_score') or 0:.2f}"
        print(f"* {why}\n  {row['url'] or row['id']}\n  {_snippet(row['text'], chars)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p, "warc")
    p.add_argument("--input", metavar="GLOB", help="WARC files to run on instead of DIR/warc/*.gz (e.g. 'samples/*.gz')")
    p.add_argument("--config", default="tiny")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("-k", type=int, default=10, help="documents shown per stage and side")
    p.add_argument("--chars", type=int, default=300, help="characters of text shown")
    args = p.parse_args(argv)
    cfg = load_config(args.config, [*args.overrides, "output.keep_rejected=true",
                                    f"filters.order=[{', '.join(STAGES)}]"])
    inputs = sorted(glob.glob(args.input or str(data_dir(args, "warc") / "warc" / "*.gz")))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        result = run_job(inputs, str(out), cfg, PipelineOptions(["--runner=DirectRunner"]))
        report = build_report(str(out), result.stages, {}, inputs)
        kept_final = _rows(out, "docs")
        rejected = {stage: _rows(out, f"rejected/{stage}") for stage in STAGES}
    print(f"inputs: {len(inputs)} files, {report['input']['records']} records")
    for stage in report["stages"]:
        print(f"  {stage['name']:<9} seen {stage['seen']:>5}  kept {stage['kept']:>5}  dropped {stage['dropped']}"
              f"  errors {stage['errors']}")
    problems = invariant_problems(report)
    print("accounting invariant:", "holds" if not problems else "; ".join(problems))
    for i, stage in enumerate(STAGES):
        kept = kept_final + [r for later in STAGES[i + 1:] for r in rejected[later]]
        print(f"\n======== stage {stage}")
        _show(f"{stage}: kept", kept, args.k, args.chars)
        _show(f"{stage}: dropped", rejected[stage], args.k, args.chars)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

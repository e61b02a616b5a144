"""What the toxicity stage costs in the whole pipeline: the default preset against the same preset
with toxicity off, on the same pages, in the same sitting.

For each input, runs `tokenmill run --config default` twice per repeat, once as it is and once with
`--set toxicity.enabled=false` (alternating which goes first), with the DirectRunner in
multi_processing mode, and measures the CPU time of the whole process tree (launcher, SDK workers,
extraction children: user + system from getrusage of the reaped children, which unlike wall time
does not grow when the shared machine is busy). Prints both CPU figures, their ratio, kept
documents per CPU-second, and how many documents the cascade sent to e5 (from the kept documents'
`toxicity_escalated` signal).

Inputs (both read only through --data, the shared data directory):
- `generated`: `--docs` pages from bench/generate.py (English news and UDHR paragraphs in a dozen
  languages: about half the kept documents are not English);
- `warc`: the real crawls in DATA/warc/*.warc.gz.

    python bench/bench_toxicity_cost.py --data DATA [--docs 3000] [--workers 2] [--repeats 1]
        [--inputs generated warc] [--set toxicity.escalate_at=0.3 ...]
"""

from __future__ import annotations

import argparse
import glob
import json
import shutil
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_scale import run_once  # noqa: E402
from common import print_table  # noqa: E402
from generate import generate  # noqa: E402


def generated_input(out: Path, data: Path, docs: int) -> Path:
    """bench/generate.py's pages (seed 0), made once and reused while `docs` matches."""
    target = out / f"gen{docs}"
    marker = target / "generated.json"
    if not marker.exists():
        records = generate(target, docs, 10_000, 0, 0.1, 0.02, data)
        marker.write_text(json.dumps(records))
    return target


def escalated_documents(run_dir: Path) -> tuple[int, int]:
    """(kept documents e5 scored a chunk of, kept documents) from the run's docs/*.parquet."""
    import pyarrow.parquet as pq

    escalated = kept = 0
    for path in sorted(glob.glob(str(run_dir / "docs" / "*.parquet"))):
        table = pq.read_table(path)
        if "signals" not in table.column_names:
            return -1, table.num_rows
        for signals in table.column("signals").to_pylist():
            kept += 1
            values = dict(signals) if isinstance(signals, list) else (signals or {})
            escalated += values.get("toxicity_escalated", 0.0) > 0
    return escalated, kept


def stage_seconds(report: dict, name: str) -> float:
    return sum(s["seconds"] or 0.0 for s in report["stages"] if s["name"] == name)


def measure(name: str, inputs: Path, args) -> list[dict]:
    rows = []
    for repeat in range(args.repeats):
        order = [("default", []), ("toxicity off", ["toxicity.enabled=false"])]
        for preset, sets in order if repeat % 2 == 0 else order[::-1]:
            out = args.out / f"{name}-{preset.replace(' ', '-')}-{repeat}"
            result = run_once(inputs, out, args.workers, "default", args.overrides + sets, args.max_mb)
            report = result["report"]
            escalated, kept = escalated_documents(out) if preset == "default" else (0, report["output"]["documents"])
            rows.append({"input": name, "preset": preset, "repeat": repeat, "cpu_s": result["cpu_seconds"],
                         "wall_s": result["seconds"], "kept_docs": report["output"]["documents"],
                         "docs_per_cpu_s": report["output"]["documents"] / result["cpu_seconds"],
                         "toxicity_stage_s": stage_seconds(report, "toxicity"),
                         "e5_docs": escalated, "e5_share": escalated / kept if kept and escalated >= 0 else ""})
            print(f"{name} {preset} #{repeat}: {result['cpu_seconds']:.1f} CPU-s", file=sys.stderr, flush=True)
            if not args.keep:
                shutil.rmtree(out, ignore_errors=True)
    return rows


def ratio_rows(rows: list[dict]) -> list[dict]:
    out = []
    for name in dict.fromkeys(r["input"] for r in rows):
        on = [r["cpu_s"] for r in rows if r["input"] == name and r["preset"] == "default"]
        off = [r["cpu_s"] for r in rows if r["input"] == name and r["preset"] == "toxicity off"]
        out.append({"input": name, "runs_each": len(on), "default_cpu_s": sum(on) / len(on),
                    "toxicity_off_cpu_s": sum(off) / len(off), "ratio": sum(on) / sum(off)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data directory (html/, langid/, warc/)")
    parser.add_argument("--inputs", nargs="+", choices=["generated", "warc"], default=["generated", "warc"])
    parser.add_argument("--docs", type=int, default=3000, help="generated pages")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each preset per input")
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE",
                        help="applied to both presets (e.g. toxicity.* settings under test)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/toxicity_cost"))
    parser.add_argument("--max-mb", type=float, default=8_000, help="stop a run whose process tree passes this RSS")
    parser.add_argument("--keep", action="store_true", help="keep the runs' output directories")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # run_once's cleanup kills the run's session

    rows = []
    for name in args.inputs:
        inputs = generated_input(args.out, args.data, args.docs) if name == "generated" else args.data / "warc"
        rows += measure(name, inputs, args)
    print(f"tokenmill run --config default {' '.join('--set ' + o for o in args.overrides)}; "
          f"{args.workers} workers (DirectRunner multi_processing)")
    print_table("Runs (cpu_s: the process tree's user + system CPU; toxicity_stage_s: step time summed "
                "over workers, wall clock)", rows)
    print_table("Default preset against the same preset with toxicity off (CPU)", ratio_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

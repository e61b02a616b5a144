"""The same `tokenmill run` on the DirectRunner, a local Flink cluster and a local Spark cluster.

For each runner, in one sitting: the wall time of the run and its CPU time, counted over every
process that did the work: the launcher and its children (getrusage), and for Flink and Spark the
processes that `scripts/local_cluster.sh ENGINE up` started (JobManager, TaskManagers, master,
worker and its executors, the job server, the SDK worker pool and the Python workers it spawned),
read from /proc before and after the run (utime + stime, plus cutime + cstime of children that
ended). Cluster start-up is not counted; each cluster runs only this job. The outputs are checked
against the DirectRunner's (documents, rejects, dead letter, report figures, token shards), so a
figure never comes from a wrong run. The machine is shared and noisy: compare the ratios.

    .venv/bin/python bench/bench_engines.py [--input 'samples/*.gz'] [--config default] [--engines flink spark]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table  # noqa: E402  (bench/ is not a package)
from local_engine import LocalCluster, children_cpu_s, session_cpu_s  # noqa: E402
from run_outputs import outputs  # noqa: E402

TOKENMILL = Path(sys.executable).parent / "tokenmill"


def _run(args, out: Path, flags: list[str], sessions: set[int]) -> tuple[float, float]:
    argv = [str(TOKENMILL), "run", "--input", *args.input, "--output", str(out), "--config", args.config,
            "--set", "output.keep_rejected=true", *flags]
    cpu0, engine0, t0 = children_cpu_s(), session_cpu_s(sessions), time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode:
        raise SystemExit(f"bench_engines: {' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return wall, children_cpu_s() - cpu0 + session_cpu_s(sessions) - engine0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", nargs="+", default=[str(ROOT / "samples" / "*.gz")])
    p.add_argument("--config", default="default")
    p.add_argument("--engines", nargs="+", default=["flink", "spark"], choices=["flink", "spark"])
    args = p.parse_args(argv)
    rows, work = [], Path(tempfile.mkdtemp(prefix="bench_engines-"))
    wall, cpu = _run(args, work / "direct", ["--runner=DirectRunner"], set())
    reference = outputs(work / "direct")
    rows.append({"runner": "DirectRunner", "wall_s": wall, "cpu_s": cpu, "wall/direct": 1.0, "cpu/direct": 1.0,
                 "same output": "-"})
    for name in args.engines:
        with LocalCluster(name, work / f"{name}-cluster") as cluster:
            w, c = _run(args, work / name, cluster.flags, set(cluster.parts.values()))
        rows.append({"runner": f"{name} (local cluster)", "wall_s": w, "cpu_s": c, "wall/direct": w / wall,
                     "cpu/direct": c / cpu, "same output": str(outputs(work / name) == reference)})
    print_table(f"tokenmill run --config {args.config} on {' '.join(args.input)}: wall and CPU seconds per runner",
                rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The CPU and memory of the processes that run a benchmark's job, and a local Flink or Spark cluster.

A run's process tree (the launcher and its descendants: the DirectRunner's SDK workers and their
extraction children) is sampled from /proc (`TreeMemorySampler`, `tree_rss_mb`); its CPU is the
children's getrusage once the launcher is reaped.

`LocalCluster` brings the cluster up with `scripts/local_cluster.sh ENGINE up` (the helper users
get: JobManager and two TaskManagers, or a Spark master and worker, Beam's job server and the SDK
worker pool) on free loopback ports and in a folder of its own, and takes it down on exit, also
when the benchmark fails. Every part the script starts is the leader of a session of its own (its
pid file), and the processes it starts stay in that session (the worker pool's Python SDK
workers, Spark's executors), so a part's CPU and memory are those of its session's processes,
read from /proc; the sampler adds them to the tree's. Shared by bench/bench_engines.py and
bench/bench_scale.py.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from ports import free_ports  # noqa: E402  (bench/ and tests/ start the same servers)

SCRIPT = ROOT / "scripts" / "local_cluster.sh"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20
SAMPLE_EVERY_S = 0.5
PORT_NAMES = ("FLINK_REST_PORT", "FLINK_RPC_PORT", "SPARK_MASTER_PORT", "SPARK_UI_PORT", "SPARK_WORKER_UI_PORT",
              "JOB_PORT", "ARTIFACT_PORT", "EXPANSION_PORT", "POOL_PORT")


def _stat(pid_dir: Path) -> list[str] | None:
    """/proc/PID/stat's fields after "pid (comm)": state ppid pgrp session ... utime(11) stime cutime cstime."""
    try:
        return (pid_dir / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:   # the process ended while we looked
        return None


def session_cpu_s(sessions) -> float:
    """CPU seconds of the live processes in these sessions, with their ended (reaped) children's."""
    total = 0
    for pid_dir in Path("/proc").glob("[0-9]*"):
        fields = _stat(pid_dir)
        if fields and int(fields[3]) in sessions:
            total += sum(int(f) for f in fields[11:15])
    return total / TICKS


def session_rss_mb(parts: dict[str, int]) -> tuple[dict[str, float], float, int]:
    """({part: RSS summed over its session's live processes}, largest process RSS, process count), MiB.

    `parts` maps each part's name to its session id (its leader's pid).
    """
    by_session = {sid: name for name, sid in parts.items()}
    rss, largest, count = dict.fromkeys(parts, 0.0), 0.0, 0
    if not parts:   # a DirectRunner run: no cluster, so no need to read /proc every sample
        return rss, largest, count
    for pid_dir in Path("/proc").glob("[0-9]*"):
        fields = _stat(pid_dir)
        if not fields or int(fields[3]) not in by_session:
            continue
        try:
            resident = int((pid_dir / "statm").read_text().split()[1]) * PAGE_MIB
        except (OSError, IndexError):
            continue
        rss[by_session[int(fields[3])]] += resident
        largest, count = max(largest, resident), count + 1
    return rss, largest, count


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for pid_dir in Path("/proc").glob("[0-9]*"):
        fields = _stat(pid_dir)
        if fields:
            tree.setdefault(int(fields[1]), []).append(int(pid_dir.name))
    return tree


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024      # kB -> MiB
    except OSError:
        pass
    return 0.0


def tree_rss_mb(root: int) -> tuple[float, float, int]:
    """(sum of RSS over `root` and its descendants, largest single RSS, process count), MiB."""
    tree, todo, rss = _children(), [root], []
    while todo:
        pid = todo.pop()
        rss.append(_rss_mb(pid))
        todo.extend(tree.get(pid, []))
    return sum(rss), max(rss, default=0.0), len(rss)


class TreeMemorySampler(threading.Thread):
    """Samples the RSS of a process tree (and of a cluster's sessions) until stopped; keeps the peaks.

    `peak_where` is the RSS of each group at the moment of the peak: the launcher, its children
    (the DirectRunner's SDK workers and their extraction children), and each cluster part.
    """

    def __init__(self, root: int, max_mb: float = 0.0, parts: dict[str, int] | None = None):
        super().__init__(daemon=True)
        self.root, self.peak_sum, self.peak_one, self.peak_procs = root, 0.0, 0.0, 0
        self.max_mb, self.stopped_for_memory, self.peak_at = max_mb, False, 0.0
        self.parts, self.peak_where = parts or {}, {}
        self.loads: list[float] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_EVERY_S):
            tree, largest, procs = tree_rss_mb(self.root)
            launcher = _rss_mb(self.root)
            cluster, cluster_largest, cluster_procs = session_rss_mb(self.parts)
            where = {"launcher": launcher, "launcher's children": tree - launcher, **cluster}
            total, largest, procs = sum(where.values()), max(largest, cluster_largest), procs + cluster_procs
            if total > self.peak_sum:
                self.peak_at, self.peak_where = time.perf_counter(), where
            self.peak_sum, self.peak_one = max(self.peak_sum, total), max(self.peak_one, largest)
            self.peak_procs = max(self.peak_procs, procs)
            self.loads.append(os.getloadavg()[0])   # the machine is shared: say how busy it was
            if self.max_mb and total > self.max_mb and not self.stopped_for_memory:
                # The machine is shared: stop the run (its own session) before it starves others.
                self.stopped_for_memory = True
                os.killpg(self.root, signal.SIGKILL)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def children_cpu_s() -> float:
    """User + system CPU of every finished descendant (grandchildren count once their parent reaps them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class LocalCluster:
    """`with LocalCluster("flink", run_dir) as cluster:` the cluster is up; `cluster.flags` run a job on it."""

    def __init__(self, engine: str, run_dir: Path, python: str = sys.executable):
        self.engine, self.run_dir = engine, run_dir
        self.ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES))))
        self.env = {**os.environ, **{k: str(v) for k, v in self.ports.items()},
                    "TOKENMILL_CLUSTER_DIR": str(run_dir), "PYTHON": python}
        self.parts: dict[str, int] = {}

    @property
    def flags(self) -> list[str]:
        """`tokenmill run` options for this cluster (as tests/pipelines/test_engines.py passes them)."""
        return ["--runner=PortableRunner", f"--job_endpoint=localhost:{self.ports['JOB_PORT']}",
                "--environment_type=EXTERNAL", f"--environment_config=localhost:{self.ports['POOL_PORT']}"]

    def _script(self, action: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(SCRIPT), self.engine, action], env=self.env, capture_output=True,
                              text=True, timeout=600)

    def __enter__(self) -> LocalCluster:
        up = self._script("up")
        if up.returncode:
            self._script("down")
            raise SystemExit(f"'{SCRIPT.name} {self.engine} up' failed:\n{up.stdout[-2000:]}\n{up.stderr[-3000:]}")
        self.parts = {p.stem: int(p.read_text()) for p in (self.run_dir / "pids").glob("*.pid")}
        return self

    def __exit__(self, *exc) -> None:
        down = self._script("down")
        left = [pid_dir.name for pid_dir in Path("/proc").glob("[0-9]*")
                if (f := _stat(pid_dir)) and int(f[3]) in self.parts.values() and f[0] != "Z"]
        if down.returncode or left:
            print(f"'{self.engine} down' failed or left processes {left}:\n{down.stderr[-2000:]}", file=sys.stderr)

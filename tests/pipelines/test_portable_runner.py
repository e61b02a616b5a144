"""`tokenmill run` through Beam's portable job API gives the same output as the DirectRunner.

Flink, Spark and Dataflow all run a Python pipeline through the job API: the launcher pickles
the DoFns, submits the graph to a job service, and SDK workers in other processes (other
machines) unpickle and run them, reading inputs and writing outputs from their own working
directory. This test starts Beam's own Python job service and an external worker pool as
separate processes on loopback (Beam 2.77, as measured in DESIGN.md), runs `tokenmill run` with
`--environment_type=LOOPBACK` and with `EXTERNAL` workers on real WARC files, and checks that the
kept documents, the report's figures, the rejects, the dead letters and the token shards (their
sha256 in the manifest) equal a DirectRunner run of the same input. Every
process it starts lives in its own session and is killed, with its children, when the fixture
ends, even when a test fails; the finalizer then checks that none is left.

The worker pool runs in a directory of its own and `tokenmill run` is given relative paths, so a
path resolved against the wrong working directory shows up as missing input or output.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from testdata import REAL_WARCS

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent          # not resolved: the venv's python is a symlink
TOKENMILL = VENV_BIN / "tokenmill"
START_TIMEOUT_S = 90
RUN_TIMEOUT_S = 300
TIMING_KEY = re.compile(r"(^|_)seconds$|^docs_per_s$")   # the only report figures allowed to differ

pytestmark = pytest.mark.e2e


def _session_members(sid: int) -> list[str]:
    """Live processes of session `sid` (one started with start_new_session), as 'pid cmdline'."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:    # the process ended while we looked
            continue
        # fields after "pid (comm)": state ppid pgrp session ...; a zombie is already gone
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(f"{stat.parent.name} {cmdline.strip()}")
    return found


def _stop_session(proc: subprocess.Popen) -> list[str]:
    """SIGTERM then SIGKILL to the whole session of `proc`; returns what is still alive after."""
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _session_members(proc.pid):
                return []
            time.sleep(0.2)
    proc.poll()
    return _session_members(proc.pid)


class _Service:
    """A Beam service started as its own session, its log in a file, stopped by `stop()`."""

    def __init__(self, name: str, argv: list[str], cwd: Path, log_pattern: str):
        self.log = cwd / f"{name}.log"
        env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self._log_pattern = log_pattern
        self.port = 0

    def wait_ready(self) -> "_Service":
        """Waits for the service to log its port (it was started with port 0: a free one)."""
        self.port = self._wait_for(self._log_pattern)
        return self

    def _wait_for(self, pattern: str) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log.read_text(errors="replace"))
            if match:
                return int(match.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"{self.proc.args} did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        left = _stop_session(self.proc)
        assert not left, f"processes left after stopping {self.proc.args[:3]}: {left}"


@pytest.fixture(scope="module")
def job_service(tmp_path_factory, request):
    """Beam's Python job service on a free loopback port (the role of a Flink/Spark job server)."""
    cwd = tmp_path_factory.mktemp("job_service")
    service = _Service("job_service", [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                                       "--port", "0"], cwd, r"Listening for beam jobs on port (\d+)")
    request.addfinalizer(service.stop)
    return service.wait_ready()


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory, request):
    """An external SDK worker pool (the Flink-on-Kubernetes sidecar), started from its own directory."""
    cwd = tmp_path_factory.mktemp("worker_pool")
    service = _Service("worker_pool", [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                                       "--service_port=0"], cwd, r"worker pool servicer at port: [\w.]+:(\d+)")
    request.addfinalizer(service.stop)
    return service.wait_ready()


def _tokenmill_run(cwd: Path, output: str, beam_flags: list[str]) -> Path:
    """Runs `tokenmill run` from `cwd` with relative paths; returns the output directory."""
    inputs = [os.path.relpath(p, cwd) for p in REAL_WARCS]
    argv = [str(TOKENMILL), "run", "--input", *inputs, "--output", output, "--config", "tiny", *beam_flags]
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        left = _stop_session(proc)
    assert proc.returncode == 0, f"{' '.join(argv)} failed ({proc.returncode}):\n{out.decode(errors='replace')[-5000:]}"
    assert not left, f"processes left by tokenmill run: {left}"
    return cwd / output


def _kept(out_dir: Path) -> set[tuple[str, str]]:
    rows = set()
    for part in sorted((out_dir / "docs").glob("*.parquet")):
        rows |= {(r["id"], r["text"]) for r in pq.read_table(part, columns=["id", "text"]).to_pylist()}
    return rows


def _side_outputs(out_dir: Path) -> tuple[set, list[str]]:
    """The other files the workers write: rejected/<stage>/*.parquet rows and errors/*.jsonl lines."""
    rejected = set()
    for part in sorted((out_dir / "rejected").glob("*/*.parquet")):
        rejected |= {(r["id"], r["stage"], r["reason"], r["text"])
                     for r in pq.read_table(part, columns=["id", "stage", "reason", "text"]).to_pylist()}
    errors = sorted(line for part in (out_dir / "errors").glob("*.jsonl") for line in part.read_text().splitlines())
    return rejected, errors


def _without_timings(value):
    """The value with every timing entry (`seconds`, `sign_seconds`, `docs_per_s`, ...) removed, at any depth."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if not TIMING_KEY.search(k)}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _report_figures(out_dir: Path) -> dict:
    report = json.loads((out_dir / "report" / "report.json").read_text())
    files_records_bytes = {k: report["input"][k] for k in ("files", "records", "bytes")}
    manifest = out_dir / "tokens" / "manifest.json"   # tokenizer and shard sha256s: byte-identical output
    return {"input": files_records_bytes, "stages": _without_timings(report["stages"]), "output": report["output"],
            "manifest": json.loads(manifest.read_text()) if manifest.exists() else None}


@pytest.fixture(scope="module")
def direct_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("direct")
    out = _tokenmill_run(cwd, "out", ["--runner=DirectRunner"])
    return _kept(out), _report_figures(out), _side_outputs(out)


@pytest.mark.parametrize("environment", ["LOOPBACK", "EXTERNAL"])
def test_portable_runner_matches_direct_runner(environment, direct_run, job_service, worker_pool, tmp_path):
    flags = ["--runner=PortableRunner", f"--job_endpoint=localhost:{job_service.port}",
             f"--environment_type={environment}"]
    if environment == "EXTERNAL":
        # --setup_file: the launcher builds the worker sdist and stages it through the job service's
        # artifact service, as on a cluster (this worker pool has tokenmill installed already).
        flags += [f"--environment_config=localhost:{worker_pool.port}", f"--setup_file={ROOT / 'pyproject.toml'}"]
    out = _tokenmill_run(tmp_path, "out", flags)

    kept, figures = _kept(out), _report_figures(out)
    direct_kept, direct_figures, direct_side = direct_run
    assert figures["input"]["records"] > 0 and len(kept) > 0, "the run saw or kept nothing"
    assert kept == direct_kept
    assert figures == direct_figures
    rejected, errors = _side_outputs(out)
    assert len(rejected) > 0, "the tiny preset keeps rejects: the workers must have written some"
    assert (rejected, errors) == direct_side
    if environment == "EXTERNAL":   # the work really ran in the pool's SDK workers
        assert "Starting worker with command" in worker_pool.log.read_text(errors="replace")

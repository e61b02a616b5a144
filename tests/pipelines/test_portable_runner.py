"""`tokenmill run` through Beam's portable job API gives the same output as the DirectRunner.

Flink, Spark and Dataflow all run a Python pipeline through the job API: the launcher pickles
the DoFns, submits the graph to a job service, and SDK workers in other processes (other
machines) unpickle and run them, reading inputs and writing outputs from their own working
directory. This test starts Beam's own Python job service and an external worker pool as
separate processes on loopback (Beam 2.62), runs `tokenmill run` with
`--environment_type=LOOPBACK` and with `EXTERNAL` workers on real WARC files, and checks that the
kept documents, the report's figures, the rejects, the dead letters and the token shards (their
sha256 in the manifest) equal a DirectRunner run of the same input. Every
process it starts lives in its own session and is killed, with its children, when the fixture
ends, even when a test fails; the finalizer then checks that none is left.

The worker pool runs in a directory of its own and `tokenmill run` is given relative paths, so a
path resolved against the wrong working directory shows up as missing input or output.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_outputs import free_port, kept, report_figures, side_outputs, stop_session, tokenmill_run

from testdata import REAL_WARCS

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent          # not resolved: the venv's python is a symlink
TOKENMILL = VENV_BIN / "tokenmill"
START_TIMEOUT_S = 90
RUN_TIMEOUT_S = 300

pytestmark = pytest.mark.e2e


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

    def wait_listening(self, port: int) -> "_Service":
        """Waits until the service accepts connections on `port` (for one that logs nothing:
        Beam 2.62's worker pool logs its port at INFO with no handler configured)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                self.port = port
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.proc.args} did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

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
        left = stop_session(self.proc)
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
    port = free_port()
    service = _Service("worker_pool", [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                                       f"--service_port={port}"], cwd, "")
    request.addfinalizer(service.stop)
    return service.wait_listening(port)


def _tokenmill_run(cwd: Path, output: str, beam_flags: list[str]) -> Path:
    """Runs `tokenmill run` from `cwd` with relative paths; returns the output directory."""
    inputs = [os.path.relpath(p, cwd) for p in REAL_WARCS]
    return tokenmill_run(TOKENMILL, cwd, inputs, output, ["--config", "tiny", *beam_flags], RUN_TIMEOUT_S)


@pytest.fixture(scope="module")
def direct_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("direct")
    out = _tokenmill_run(cwd, "out", ["--runner=DirectRunner"])
    return kept(out), report_figures(out), side_outputs(out)


@pytest.mark.parametrize("environment", ["LOOPBACK", "EXTERNAL"])
def test_portable_runner_matches_direct_runner(environment, direct_run, job_service, worker_pool, tmp_path):
    flags = ["--runner=PortableRunner", f"--job_endpoint=localhost:{job_service.port}",
             f"--environment_type={environment}"]
    if environment == "EXTERNAL":
        # --setup_file: the launcher builds the worker sdist and stages it through the job service's
        # artifact service, as on a cluster (this worker pool has tokenmill installed already).
        flags += [f"--environment_config=localhost:{worker_pool.port}", f"--setup_file={ROOT / 'setup.py'}"]
    out = _tokenmill_run(tmp_path, "out", flags)

    docs, figures = kept(out), report_figures(out)
    direct_kept, direct_figures, direct_side = direct_run
    assert figures["input"]["records"] > 0 and len(docs) > 0, "the run saw or kept nothing"
    assert docs == direct_kept
    assert figures == direct_figures
    rejected, errors = side_outputs(out)
    assert len(rejected) > 0, "the tiny preset keeps rejects: the workers must have written some"
    assert (rejected, errors) == direct_side
    if environment == "EXTERNAL":   # the work really ran in the pool's SDK workers
        assert "Starting worker with command" in worker_pool.log.read_text(errors="replace")

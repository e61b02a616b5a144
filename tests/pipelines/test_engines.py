"""`tokenmill run` on a real Flink cluster and a real Spark cluster writes the DirectRunner's output.

Each engine is brought up by `scripts/local_cluster.sh`, the helper users get: Flink 1.19 with a
JobManager and two TaskManagers, or a Spark 3.5 standalone master and worker, each JVM a process
of its own, Beam's job server for that engine, and Beam's Python SDK worker pool (EXTERNAL
environment: the Python work runs in the pool's processes, not in the launcher). The job runs the
default preset (trafilatura, the toxicity cascade, PII, a trained tokenizer) on the bundled real
WARC files and must write exactly what the DirectRunner writes for the same input: kept
documents, rejects, dead letters, the report's figures (timings aside) and the token shards
(sha256s in the manifest). The cluster is stopped when the test ends, also when it fails, and
no process of it may be left.

The jars and distributions come from the cache that `scripts/local_cluster.sh ENGINE fetch`
fills (scripts/test.sh runs it before the tests); nothing is downloaded while a job runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from ports import free_ports
from run_outputs import outputs, session_members, tokenmill_run

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "local_cluster.sh"
SAMPLES = ROOT / "samples"
VENV_BIN = Path(sys.executable).parent          # not resolved: the venv's python is a symlink
TOKENMILL = VENV_BIN / "tokenmill"
PRESET = ["--config", "default", "--set", "output.keep_rejected=true"]   # rejects written, so compared too
UP_TIMEOUT_S = 600
RUN_TIMEOUT_S = 900
PORT_NAMES = ("FLINK_REST_PORT", "FLINK_RPC_PORT", "SPARK_MASTER_PORT", "SPARK_UI_PORT", "SPARK_WORKER_UI_PORT",
              "JOB_PORT", "ARTIFACT_PORT", "EXPANSION_PORT", "POOL_PORT")

pytestmark = pytest.mark.e2e


def _script(engine: str, action: str, env: dict, timeout_s: float) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), engine, action], env=env, capture_output=True, text=True,
                          timeout=timeout_s)


def _stop(engine: str, env: dict, run_dir: Path) -> None:
    """`down`, then no process of any part may be left (each part was a session of its own)."""
    leaders = [int(p.read_text()) for p in (run_dir / "pids").glob("*.pid")]
    down = _script(engine, "down", env, 300)
    left = [member for pid in leaders for member in session_members(pid)]
    assert down.returncode == 0, down.stderr
    assert not left, f"processes left after '{engine} down': {left}"


@pytest.fixture(scope="module")
def direct_outputs(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("direct")
    out = tokenmill_run(TOKENMILL, cwd, [f"{SAMPLES}/*.gz"], "out", [*PRESET, "--runner=DirectRunner"], RUN_TIMEOUT_S)
    return outputs(out)


@pytest.fixture(params=["flink", "spark"])
def cluster(request, tmp_path_factory):
    engine = request.param
    run_dir = tmp_path_factory.mktemp(f"{engine}_cluster")
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES))))
    env = {**os.environ, **{k: str(v) for k, v in ports.items()},
           "TOKENMILL_CLUSTER_DIR": str(run_dir), "PYTHON": sys.executable}
    request.addfinalizer(lambda: _stop(engine, env, run_dir))
    up = _script(engine, "up", env, UP_TIMEOUT_S)
    assert up.returncode == 0, f"'{engine} up' failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
    return engine, ports


def _finished_jobs(engine: str, ports: dict) -> int:
    """Jobs the engine itself reports as finished (so the work ran there, not in a local runner)."""
    if engine == "flink":
        url = f"http://localhost:{ports['FLINK_REST_PORT']}/jobs/overview"
        return sum(job["state"] == "FINISHED" for job in json.load(urllib.request.urlopen(url, timeout=10))["jobs"])
    url = f"http://localhost:{ports['SPARK_UI_PORT']}/json/"
    return len(json.load(urllib.request.urlopen(url, timeout=10))["completedapps"])


def test_default_pipeline_on_the_engine_matches_the_direct_runner(cluster, direct_outputs, tmp_path):
    engine, ports = cluster
    flags = [*PRESET, "--runner=PortableRunner", f"--job_endpoint=localhost:{ports['JOB_PORT']}",
             "--environment_type=EXTERNAL", f"--environment_config=localhost:{ports['POOL_PORT']}"]
    got = outputs(tokenmill_run(TOKENMILL, tmp_path, [f"{SAMPLES}/*.gz"], "out", flags, RUN_TIMEOUT_S))

    assert got["figures"]["input"]["records"] > 0 and got["kept"] and got["rejected"], "the run saw or kept nothing"
    assert got["figures"]["manifest"] is not None, "the default preset writes token shards"
    for key in ("kept", "rejected", "errors", "figures"):
        assert got[key] == direct_outputs[key], f"{engine}: {key} differ from the DirectRunner's"
    assert _finished_jobs(engine, ports) == 1

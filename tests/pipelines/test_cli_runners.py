"""`tokenmill run` refuses a runner known to lose data, with one line saying why (DESIGN.md).

Beam's DaskRunner (measured on 2.77) finishes "successfully" with wrong output: it computes only the last leaf
of the graph and drops what DoFns emit in finish_bundle (Parquet writes, the stage stats).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenmill.pipelines.cli import USAGE_ERROR, main

SAMPLE_WARC = Path(__file__).resolve().parents[2] / "samples" / "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz"


@pytest.mark.parametrize("runner", ["DaskRunner", "daskrunner", "apache_beam.runners.dask.dask_runner.DaskRunner"])
def test_run_refuses_the_dask_runner(runner, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--input", str(SAMPLE_WARC), "--output", str(out), "--config", "tiny", f"--runner={runner}"])
    err = capsys.readouterr().err
    assert code == USAGE_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"tokenmill: error: refusing --runner={runner}: ")
    assert "loses data" in lines[0] and "finish_bundle" in lines[0]
    assert not out.exists(), "nothing may run (or be written) before the refusal"


def test_run_accepts_the_portable_runner_flags(tmp_path):
    # The refusal is by runner name only: the job API flags the cluster runners need are known options.
    from tokenmill.pipelines.cli import beam_options
    options = beam_options(["--runner=PortableRunner", "--job_endpoint=localhost:8099",
                            "--environment_type=EXTERNAL", "--environment_config=localhost:50000",
                            f"--setup_file={tmp_path / 'setup.py'}"])
    assert options.get_all_options()["runner"] == "PortableRunner"


def test_cluster_runners_get_options_their_job_servers_need():
    from tokenmill.pipelines.cli import ENVIRONMENT_CACHE_MS, beam_options
    for runner in ("PortableRunner", "FlinkRunner", "SparkRunner"):
        options = beam_options([f"--runner={runner}"]).get_all_options()
        # Java job servers parse the log level into an enum that has WARN and no WARNING
        assert options["default_sdk_harness_log_level"] == "WARN"
        # SDK workers kept between stages (Spark starts one per task otherwise)
        assert int(options["environment_cache_millis"]) == ENVIRONMENT_CACHE_MS   # Beam keeps it a string
    assert int(beam_options(["--runner=PortableRunner", "--environment_cache_millis=7"]).get_all_options()[
        "environment_cache_millis"]) == 7                   # the user's value wins
    assert int(beam_options(["--runner=DirectRunner"]).get_all_options()["environment_cache_millis"]) == 0

"""`tokenmill run --detach` returns once the job is submitted; `tokenmill report --build` writes the report later.

A Dataflow Flex Template launch must return within minutes, long before a crawl-sized job ends,
so the launcher cannot build the report itself. With --detach it leaves report/pending.json (the
stage order, run facts and inputs); `tokenmill report --build DIR` turns the stats the workers
wrote into the same report a waiting run writes. The DirectRunner runs the job inside run(), so
here the job has finished by the time --detach returns; the files are what a cluster would leave.
The detached run keeps its claim on OUT (pipelines/run_lock.py) until `report --build` has run.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenmill.pipelines.cli import USAGE_ERROR, main
from tokenmill.pipelines.report import invariant_problems

SAMPLE_WARC = Path(__file__).resolve().parents[2] / "samples" / "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz"


def test_detached_run_then_report_build(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--input", str(SAMPLE_WARC), "--output", str(out), "--config", "tiny", "--detach"]) == 0
    assert "tokenmill report --build" in capsys.readouterr().err
    assert not (out / "report" / "report.json").exists()
    pending = json.loads((out / "report" / "pending.json").read_text())
    assert pending["stages"][:2] == ["read", "extract"] and pending["run"]["finished"] == ""

    assert main(["report", str(out)]) == USAGE_ERROR
    assert "started with --detach" in capsys.readouterr().err

    # The launcher cannot see a detached job end, so its claim on OUT stays until the report is built.
    assert json.loads((out / "_LOCK.json").read_text())["state"] == "detached"
    assert main(["run", "--input", str(SAMPLE_WARC), "--output", str(out), "--config", "tiny"]) == USAGE_ERROR
    refused = capsys.readouterr().err
    assert "a job submitted with --detach" in refused and f"tokenmill report --build {out}" in refused

    assert main(["report", "--build", str(out)]) == 0
    assert not (out / "_LOCK.json").exists() and not (out / "_INCOMPLETE.json").exists()
    report = json.loads((out / "report" / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == pending["stages"]
    assert report["input"]["records"] == 50 and report["output"]["documents"] > 0   # the excerpt holds 50 records
    assert invariant_problems(report) == []
    assert report["run"]["report_built"] and report["run"]["config"] == "tiny"


def test_report_build_needs_a_detached_run(tmp_path, capsys):
    assert main(["report", "--build", str(tmp_path)]) == USAGE_ERROR
    assert "--build is for runs started with --detach" in capsys.readouterr().err


def test_detach_refuses_loopback_workers(tmp_path, capsys):
    code = main(["run", "--input", str(SAMPLE_WARC), "--output", str(tmp_path / "out"), "--detach",
                 "--runner=PortableRunner", "--job_endpoint=localhost:1", "--environment_type=LOOPBACK"])
    assert code == USAGE_ERROR and "workers run inside this process" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_report_build_refuses_a_job_that_has_not_written_its_stats(tmp_path, capsys):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "pending.json").write_text(json.dumps({"stages": ["read", "extract"], "run": {}, "inputs": []}))
    assert main(["report", "--build", str(tmp_path)]) == USAGE_ERROR
    assert "no stats/extract.json yet" in capsys.readouterr().err

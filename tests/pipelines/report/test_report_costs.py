"""Every figure true and every cost visible, on real runs: stage costs, pages against records,
user text printed as typed, no row for a disabled stage, Beam's noise kept off the console."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from tokenmill.pipelines.cli import main
from tokenmill.pipelines.report import invariant_problems
from tokenmill.pipelines.report_cli import print_summary
from tokenmill.pipelines.run_log import NOISE, BeamNoise, RunLog

pytestmark = pytest.mark.e2e
WET = Path(__file__).resolve().parents[3] / "samples" / "whirlwind__CC-MAIN-2024-22_whirlwind.warc.wet.gz"


def _report(run) -> dict:
    return json.loads((run / "report" / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_stage_costs_include_shuffles_and_the_tokenizer_and_add_up(run_b, capsys):
    report = _report(run_b)
    stages, costs = {s["name"]: s for s in report["stages"]}, report["costs"]
    # dedup decides after its shuffles; it used to report 0.00 s for lack of timing there
    for name in ("exact_dedup", "near_dedup", "extract", "language", "quality", "toxicity", "pii"):
        assert stages[name]["seconds"] > 0 and stages[name]["docs_per_s"] > 0, name
    steps = {r["name"]: r["seconds"] for r in costs["rows"] if r["kind"] == "step"}
    assert steps["tokenize"] > 0 and steps["ledger"] > 0 and "write_docs" in steps
    assert costs["unit"] == "CPU seconds" and "thread_time" in costs["how"] and "getrusage" in costs["how"]
    assert costs["attributed_seconds"] == pytest.approx(sum(r["seconds"] for r in costs["rows"]), abs=0.01)
    assert costs["job_cpu_seconds"] == report["run"]["cpu_seconds"] > 0
    assert costs["unattributed_seconds"] == pytest.approx(costs["job_cpu_seconds"] - costs["attributed_seconds"], abs=0.01)
    assert 0 < costs["attributed_share"] <= 1.0   # CPU seconds inside steps cannot exceed the job's
    # in_memory: the launcher is the only process, so its phases (and building the bundles' operators,
    # which runs in it) are rows, and no worker charges a start-up
    launcher = {r["name"]: r["seconds"] for r in costs["rows"] if r["kind"] == "launcher"}
    assert set(launcher) == {"startup", "planning", "operators"} and all(s > 0 for s in launcher.values())
    assert not [r for r in costs["rows"] if r["kind"] == "worker"]
    # A guard against a cost left out again, not the 10% (that holds on the bundled samples: 94%):
    # this tiny run is mostly Beam's fixed work around the steps; measured 83-85%, 57% before the launcher rows.
    assert costs["attributed_share"] > 0.7
    assert main(["report", str(run_b)]) == 0
    out = capsys.readouterr().out
    assert f"job total │ {' │ '.join([''] * 6)}" not in out   # (format guard: cells are drawn, not markup)
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in out.splitlines() if line.startswith("│")}
    assert rows["tokenize (not a stage)"][5] == f"{steps['tokenize']:,.2f}"
    assert rows["job total"][5] == f"{costs['job_cpu_seconds']:,.2f}"
    assert rows["exact_dedup"][5] == f"{stages['exact_dedup']['seconds']:,.2f}"
    assert rows["start-up: imports, config and graph"][5] == f"{launcher['startup']:,.2f}"
    assert rows["not measured (the rest)"][5] == f"{costs['unattributed_seconds']:,.2f}"
    assert f"The measured rows account for {costs['attributed_seconds']:,.2f} of the job's" in " ".join(out.split())


def test_pages_and_other_records_are_told_apart(run_b, capsys):
    report = _report(run_b)
    inp, read = report["input"], report["stages"][0]
    assert inp["records"] == inp["pages"] + inp["other_records"] and inp["other_records"] > 0
    assert inp["other_records"] == sum(inp["other_record_types"].values()) and "request" in inp["other_record_types"]
    assert read["seen"] == inp["pages"] and "not_response" not in read["dropped"]
    assert invariant_problems(report) == []
    broken = json.loads(json.dumps(report))
    broken["input"]["other_records"] += 1   # a record neither a page nor another record
    assert any("other records" in p for p in invariant_problems(broken))
    assert main(["report", str(run_b)]) == 0
    out = capsys.readouterr().out
    assert f"{inp['records']:,} records: {inp['pages']:,} pages, {inp['other_records']:,} other records (" in out
    assert f"({report['output']['documents'] / inp['pages']:.1%} of pages)" in out


def test_user_text_is_printed_as_typed_never_as_markup(run_b, capsys):
    assert main(["report", str(run_b)]) == 0
    assert "--set toxicity.gate_languages=[en]" in capsys.readouterr().out   # rich used to print "...gate_languages="
    report = _report(run_b)
    report["run"]["overrides"] = ["quality.note=[bold]loud[/bold] :smile:"]
    report["stages"][1]["dropped"] = {"[red]x[/red]": report["stages"][1]["seen"] - report["stages"][1]["kept"]
                                      - sum(report["stages"][1]["errors"].values())}
    buffer = io.StringIO()
    print_summary(report, Console(file=buffer, width=200))   # a console with markup and emoji on
    out = buffer.getvalue()
    assert "[bold]loud[/bold] :smile:" in out and "[red]x[/red]" in out


def test_a_disabled_stage_has_no_row(tmp_path, hostile_warc, run_tokenmill):
    report = run_tokenmill([hostile_warc, WET], tmp_path / "out", "extract.enabled=false")
    names = [s["name"] for s in report["stages"]]
    assert "extract" not in names and names[0] == "read" and names[1] == "url"
    read = report["stages"][0]
    assert read["dropped"]["not_extracted"] == 3   # the hostile WARC's three HTML pages: no text without extraction
    assert read["kept"] == 1                        # the WET file's one conversion is text already
    assert invariant_problems(report) == []


def test_beam_noise_stays_off_the_console_and_in_the_run_log(run_b, tmp_path):
    console, run_log = io.StringIO(), RunLog()
    handler = logging.StreamHandler(console)
    handler.addFilter(BeamNoise())
    logger = logging.getLogger("apache_beam.options.pipeline_options")
    logger.addHandler(handler)
    logger.addHandler(run_log)
    try:
        for noise in NOISE:
            logger.warning("%s: something Beam says on every run", noise)
        logger.error("apitools failed to load credentials for the output bucket")   # an error always shows
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(run_log)
    shown = console.getvalue()
    assert all(noise not in shown for noise in NOISE if "apitools" not in noise)
    assert shown.count("\n") == 1 and "failed to load credentials" in shown
    assert len(run_log.lines) == len(NOISE) + 1
    run_log.write(str(tmp_path))
    assert (tmp_path / "logs" / "run.log").read_text().count("something Beam says") == len(NOISE)
    # a real run keeps its log in OUT
    assert "tokenize: trained" in (run_b / "logs" / "run.log").read_text()


def test_a_real_multiprocess_run_prints_no_beam_noise(tmp_path, hostile_warc):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "tokenmill.pipelines.cli", "run", "--input", str(hostile_warc),
                           "--output", str(out), "--config", "tiny", "--set", "tokenize.enabled=false",
                           "--direct_running_mode=multi_processing", "--direct_num_workers=2"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    console = done.stdout + done.stderr
    assert not [noise for noise in NOISE if noise in console], console[-3000:]
    assert "WARNING" not in console, console[-3000:]
    logged = (out / "logs" / "run.log").read_text()
    assert _report(out)["run"]["cpu_seconds"] > 0 and logged
    # the worker processes' start-up, measured in each worker, and the launcher's phases are rows; the
    # job total (read after the workers were reaped) holds them all, and what no row measured is shown
    costs = _report(out)["costs"]
    kinds = {r["name"]: r["kind"] for r in costs["rows"]}
    assert kinds["worker_startup"] == "worker" and kinds["runner"] == kinds["startup"] == "launcher"
    assert "operators" not in kinds   # the bundles ran in the workers, not in the launcher
    seconds = {r["name"]: r["seconds"] for r in costs["rows"]}
    assert 0 < seconds["worker_startup"] < costs["job_cpu_seconds"] and seconds["runner"] > 0
    assert costs["unattributed_seconds"] == pytest.approx(costs["job_cpu_seconds"] - sum(seconds.values()), abs=0.01)
    assert 0 < costs["attributed_share"] <= 1.0

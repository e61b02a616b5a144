"""Command-line mistakes: one clear line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import pytest

from testdata import run_cli, warc

WARC = str(warc("whirlwind__CC-MAIN-2024-22_whirlwind.warc.gz"))


@pytest.mark.parametrize("args, message", [
    (["run", "--input", WARC, "--output", "OUT", "--bogus-flag"], "unrecognized arguments: --bogus-flag"),
    (["run", "--input", "/nonexistent/*.warc.gz", "--output", "OUT"], "--input /nonexistent/*.warc.gz: no such file"),
    (["run", "--input", WARC, "--output", "OUT", "--set", "extract.nope=1"], "unknown config key 'extract.nope'"),
    (["run", "--input", WARC, "--output", "OUT", "--set", "extract.time_limit_s=soon"],
     "extract.time_limit_s: expected float, got str 'soon'"),
    (["run", "--input", WARC, "--output", "OUT", "--config", "nosuchpreset"], "neither a preset"),
    (["run", "--input", WARC, "--output", "OUT", "--runner=DaskRunner"], "refusing --runner=DaskRunner"),
    (["run", "--input", WARC], "the following arguments are required: --output"),
    (["report", "/nonexistent-run"], "no report/report.json"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, message):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = run_cli(*args, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tokenmill: error: ") and message in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_help_answers():
    result = run_cli("run", "--help", timeout=60)
    assert result.returncode == 0
    assert "--input" in result.stdout and "Beam pipeline option" in result.stdout


def test_config_command_prints_a_loadable_resolved_config(tmp_path):
    result = run_cli("config", "--config", "tiny", "--set", "output.samples_per_reason=7", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "samples_per_reason: 7" in result.stdout and "# apache-beam==" in result.stdout
    path = tmp_path / "resolved.yaml"
    path.write_text(result.stdout)
    again = run_cli("config", "--config", str(path), timeout=60)
    assert again.returncode == 0 and again.stdout == result.stdout

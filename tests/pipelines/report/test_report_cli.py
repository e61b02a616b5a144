"""`tokenmill report DIR`, `--compare A B` and `--train-log` on real runs: the tables are right."""

from __future__ import annotations

import json
import shutil

import pytest

from tokenmill.pipelines.cli import main
from tokenmill.pipelines.report_cli import print_summary

pytestmark = pytest.mark.e2e


def _rows(output: str, first: str) -> list[list[str]]:
    """Cells of the table rows whose first cell is `first` (rich draws cells between │)."""
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) > 2 and cells[0] == first:
            rows.append(cells)
    return rows


def _n(cell: str) -> int:
    return int(cell.replace(",", "").replace("+", ""))


def _report(run) -> dict:
    return json.loads((run / "report" / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")   # rich reads it; a narrow pipe would wrap the tables


def test_summary_prints_the_stage_and_reason_tables(run_b, capsys):
    assert main(["report", str(run_b)]) == 0
    out, report = capsys.readouterr().out, _report(run_b)
    assert f"input: 2 files, {report['input']['records']:,} records" in out
    for stage in report["stages"]:
        rows = _rows(out, stage["name"])
        stage_row = rows[0]
        assert [_n(c) for c in stage_row[1:3]] == [stage["seen"], stage["kept"]]
        assert stage_row[3] == f"{stage['kept'] / stage['seen']:.1%}"
        assert _n(stage_row[4]) == sum(stage["dropped"].values())
        assert _n(stage_row[5]) == sum(stage["errors"].values())
        reasons = {(r[2], r[1]): _n(r[3]) for r in rows[1:]}
        expected = {("dropped", k): v for k, v in stage["dropped"].items()}
        expected.update({("error", k): v for k, v in stage["errors"].items()})
        assert reasons == expected
    assert f"output: {report['output']['documents']:,} documents" in out
    assert "accounting invariant: holds" in out


def test_compare_shows_config_change_and_counts_side_by_side(run_a, run_b, capsys):
    assert main(["report", "--compare", str(run_a), str(run_b)]) == 0
    out = capsys.readouterr().out
    a, b = _report(run_a), _report(run_b)
    assert _rows(out, "output.samples_per_reason") == [["output.samples_per_reason", "3", "2"]]
    assert _rows(out, "input")[0][1:5] == ["records", f"{a['input']['records']:,}", f"{b['input']['records']:,}",
                                           f"{b['input']['records'] - a['input']['records']:+,}"]
    stages_b = {s["name"]: s for s in b["stages"]}
    for sa in a["stages"]:
        sb = stages_b[sa["name"]]
        rows = {r[1]: [_n(c) for c in r[2:5]] for r in _rows(out, sa["name"])}
        assert rows["kept"] == [sa["kept"], sb["kept"], sb["kept"] - sa["kept"]]
        assert rows["seen"] == [sa["seen"], sb["seen"], sb["seen"] - sa["seen"]]
        for reason in set(sa["dropped"]) | set(sb["dropped"]):
            x, y = sa["dropped"].get(reason, 0), sb["dropped"].get(reason, 0)
            assert rows[f"dropped: {reason}"] == [x, y, y - x]
    assert b["input"]["records"] > a["input"]["records"]   # run B added a real dump


def test_train_log_attaches_the_loss_curve(run_a, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(run_a, run)
    log = tmp_path / "train" / "train_log.jsonl"
    log.parent.mkdir()
    lines = [{"step": s, "loss": 5.0 - s / 100, "lr": 1e-3, "tokens_per_s": 900.0} for s in range(0, 300, 10)]
    lines[-1]["val_loss"] = 2.5
    log.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    assert main(["report", str(run), "--train-log", str(log.parent)]) == 0
    assert "training: " in capsys.readouterr().out
    report = _report(run)
    assert report["training"]["steps"] == list(range(0, 300, 10))
    assert report["training"]["val_loss"] == [[290, 2.5]]
    html = (run / "report" / "index.html").read_text(encoding="utf-8")
    assert "Training loss" in html and "No training run attached" not in html
    assert main(["report", str(run), "--train-log", str(tmp_path / "missing.jsonl")]) == 2
    assert "tokenmill: error: --train-log:" in capsys.readouterr().err


def test_a_broken_invariant_is_printed(run_a_report, capsys):
    broken = json.loads(json.dumps(run_a_report))
    broken["stages"][-1]["kept"] += 1
    print_summary(broken)
    out = capsys.readouterr().out
    assert "accounting invariant broken" in out and "holds" not in out

"""The run fails when the files hold fewer documents than the accounting kept.

A runner that loses documents after the last stage counted them (as the FnApiRunner of Beam 2.62-2.77 does
when the loss hits the writers' input, see bench/repro_fnapi_loss.py) leaves stats that chain; only
counting what was written catches it. The fault is injected in the real job: one kept document
is filtered out on its way to docs/ (and, separately, to the tokenizer), then `tokenmill run`
must exit 1 and name the shortfall.
"""

from __future__ import annotations

import json

import apache_beam as beam
import pytest

from tokenmill.pipelines.cli import main
from tokenmill.pipelines.report import invariant_problems, load_report
from tokenmill.transforms.beam.tokenize import _ReadDocTexts
from tokenmill.transforms.beam.write import WriteDocs

TEXTS = ["The river rose in spring and the town moved its market to the hill above the bridge.",
         "Bakers in the old quarter start at four, long before the first tram leaves the depot.",
         "A ferry crossed the lake twice a day until the new road opened along the eastern shore.",
         "The library kept its maps in flat drawers, each labelled by hand in faded brown ink.",
         "Farmers sold apples and pears from carts parked along the avenue every Saturday morning."]
VICTIM = "doc-3"


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": f"doc-{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    return path


def _losing(expand):
    """Wraps a PTransform's expand so that one document never reaches it (a lost runner output)."""
    def lossy_expand(self, docs):
        return expand(self, docs | f"Lose{type(self).__name__}" >> beam.Filter(lambda d: d.id != VICTIM))
    return lossy_expand


def _run(jsonl, out, *overrides: str) -> int:
    args = ["run", "--input", str(jsonl), "--output", str(out), "--config", "tiny",
            "--set", "filters.order=[]", "--direct_running_mode=in_memory"]
    for override in overrides:
        args += ["--set", override]
    return main(args)


@pytest.mark.e2e
def test_a_document_lost_before_docs_fails_the_run(jsonl, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(WriteDocs, "expand", _losing(WriteDocs.expand))
    out = tmp_path / "out"
    assert _run(jsonl, out, "tokenize.enabled=false") == 1
    err = capsys.readouterr().err
    assert "accounting invariant broken: docs/*.parquet has 4 rows but extract kept 5" in err
    report = load_report(str(out))
    assert report["output"]["documents"] == 4 and report["stages"][-1]["kept"] == 5
    assert invariant_problems(report) == ["docs/*.parquet has 4 rows but extract kept 5"]


@pytest.mark.e2e
def test_a_document_lost_before_the_token_shards_fails_the_run(jsonl, tmp_path, monkeypatch, capsys):
    # the tokenizer encodes what WriteDocs wrote: the document is lost as it is read back
    read = _ReadDocTexts.process
    monkeypatch.setattr(_ReadDocTexts, "process", lambda self, path: (d for d in read(self, path) if d.id != VICTIM))
    out = tmp_path / "out"
    assert _run(jsonl, out) == 1
    assert "tokens/manifest.json lists 4 rows but extract kept 5" in capsys.readouterr().err


@pytest.mark.e2e
def test_the_same_run_without_a_fault_succeeds(jsonl, tmp_path):
    out = tmp_path / "out"
    assert _run(jsonl, out) == 0
    report = load_report(str(out))
    assert report["output"]["documents"] == report["output"]["token_rows"] == 5
    assert invariant_problems(report) == []


def _report(token_rows, config: str, with_token_rows: bool = True) -> dict:
    output = {"documents": 3, "tokens": 0, "shards": 0}
    if with_token_rows:
        output["token_rows"] = token_rows
    return {"input": {"records": 3}, "output": output, "config_resolved": config,
            "stages": [{"name": "read", "seen": 3, "kept": 3, "dropped": {}, "errors": {}}]}


def test_a_missing_manifest_is_a_problem_only_when_tokenize_was_on():
    on, off = "# tokenmill resolved config\ntokenize:\n  enabled: true\n", "tokenize:\n  enabled: false\n"
    assert invariant_problems(_report(None, on)) == [
        "tokenize is enabled and read kept 3 documents, but there is no tokens/manifest.json"]
    assert invariant_problems(_report(None, off)) == []
    assert invariant_problems(_report(3, on)) == []
    assert invariant_problems(_report(None, on, with_token_rows=False)) == []   # a report from before the check

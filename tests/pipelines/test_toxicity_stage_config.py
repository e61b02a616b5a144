"""The toxicity stage as the pipeline sees it: registry entry, config section, presets, overrides."""

from __future__ import annotations

import pytest

from tokenmill.pipelines.config import ConfigError, load_config
from tokenmill.pipelines.stages import STAGES


def test_registered_with_a_stable_label():
    assert STAGES["toxicity"].label == "ScoreToxicity"


@pytest.mark.parametrize("preset", ["default", "tiny"])
def test_presets_run_the_builtin_classifier(preset):
    cfg = load_config(preset)
    assert "toxicity" in cfg.filters.order
    assert cfg.toxicity.backend == "builtin" and cfg.toxicity.enabled
    assert STAGES["toxicity"].enabled(cfg)


def test_overrides_reach_the_section():
    cfg = load_config("tiny", ["toxicity.threshold=1.0", "toxicity.mode=spans", "toxicity.combine=top2_mean",
                               "toxicity.enabled=false"])
    assert (cfg.toxicity.threshold, cfg.toxicity.mode, cfg.toxicity.combine) == (1.0, "spans", "top2_mean")
    assert not STAGES["toxicity"].enabled(cfg)


@pytest.mark.parametrize("override, message", [
    ("toxicity.threshold=2", "threshold must be in [0, 1]"),
    ("toxicity.backend=perspective", "toxicity.backend: must be one of"),
    ("toxicity.treshold=0.5", "unknown config key 'toxicity.treshold'"),
    ("toxicity.backend=detoxify", "needs detoxify_checkpoint and detoxify_hf_dir"),
])
def test_mistakes_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config("tiny", [override])


@pytest.mark.e2e
def test_run_scores_every_document_and_reports_histogram_and_top_samples(tmp_path):
    import json

    import pyarrow.parquet as pq
    from testdata import run_cli, warc

    out = tmp_path / "out"
    result = run_cli("run", "--input", str(warc("dolma__crawl-2024_sample-0000.warc.gz")), "--output", str(out),
                     "--config", "tiny", "--set", "toxicity.threshold=0.3")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "report" / "report.json").read_text())
    stage = next(s for s in report["stages"] if s["name"] == "toxicity")
    dropped = stage["dropped"].get("toxic", 0)
    assert stage["seen"] == stage["kept"] + dropped + sum(stage["errors"].values()) and stage["seen"] > 10
    assert 0 < dropped < stage["seen"]                   # some pages score above 0.3 with the fast model
    assert sum(stage["histograms"]["toxicity"]["counts"]) == stage["seen"]   # dropped scores counted too
    assert {"top_kept_by_toxicity", "top_dropped_by_toxicity"} <= set(stage["samples"])
    docs = pq.read_table(out / "docs").to_pylist()
    assert len(docs) == stage["kept"] and all(0.0 <= d["toxicity"] <= 0.3 for d in docs)
    rejected = pq.read_table(out / "rejected" / "toxicity").to_pylist()
    assert len(rejected) == dropped and {r["reason"] for r in rejected} == {"toxic"}


def test_default_preset_runs_the_cascade_on_the_calibrated_budget():
    from tokenmill.transforms.toxicity import ESCALATE_AT, ESCALATE_AT_OTHER

    tox = load_config("default").toxicity
    # The preset states the same thresholds as the code's defaults (TOXICITY.md, calibrate_toxicity_budget.py)
    assert (tox.builtin_model, tox.escalate_top, tox.chunk_chars) == ("cascade", 1, 500)
    assert (tox.escalate_at, tox.escalate_at_other) == (ESCALATE_AT, ESCALATE_AT_OTHER)
    assert 0.0 < tox.escalate_at_other < tox.escalate_at < tox.threshold   # every drop stays e5's decision
    with pytest.raises(ConfigError, match="escalate_at_other"):
        load_config("default", ["toxicity.escalate_at_other=2"])

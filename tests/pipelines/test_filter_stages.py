"""The url, language and quality stages wired through the registry, in Beam and end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tokenmill.pipelines.config import load_config
from tokenmill.pipelines.stages import STAGES
from tokenmill.transforms.beam.ledger import Ledger
from tokenmill.transforms.document import Document, DropReason
from tokenmill.transforms.stats import StageStats

ROOT = Path(__file__).resolve().parents[2]
PROSE = "\n".join([
    "The river runs past the old mill and the village that grew up around it.",
    "Farmers brought their grain to be ground there for more than two hundred years.",
    "When the railway arrived, the mill closed and the building stood empty for decades.",
    "A group of volunteers restored the wheel with help from the local museum.",
    "Today visitors can watch the machinery turn and buy flour made on site.",
    "The museum also keeps records of the families who worked at the mill.",
])
GERMAN = "\n".join([
    "Der Fluss fließt an der alten Mühle vorbei, und das Dorf ist um sie herum gewachsen.",
    "Die Bauern brachten ihr Getreide mehr als zweihundert Jahre lang dorthin, um es mahlen zu lassen.",
    "Als die Eisenbahn kam, wurde die Mühle geschlossen, und das Gebäude stand jahrzehntelang leer.",
    "Eine Gruppe von Freiwilligen hat das Rad mit Hilfe des örtlichen Museums wieder aufgebaut.",
    "Heute können Besucher zusehen, wie sich die Maschinen drehen, und Mehl aus der Mühle kaufen.",
    "Das Museum bewahrt auch die Geschichte der Familien auf, die in der Mühle gearbeitet haben.",
])
DOCS = [
    Document(id="en", url="https://example.org/mill", text=PROSE),
    Document(id="de", url="https://example.de/muehle", text=GERMAN),
    Document(id="adult", url="https://www.pornhub.com/x", text=PROSE),
    Document(id="short", url="https://example.org/short", text="The river runs past the old mill today."),
]


def test_three_stages_in_a_pipeline(tmp_path):
    cfg = load_config("tiny", ["language.languages=[en, de]"])
    ledger = Ledger(str(tmp_path), lambda: (lambda text: text), samples_per_reason=2)
    with TestPipeline() as p:
        docs = p | beam.Create(DOCS)
        for name in ("url", "language", "quality"):
            docs = docs | STAGES[name].label >> STAGES[name].build(cfg, ledger)
        assert_that(docs | beam.Map(lambda d: (d.id, d.lang)), equal_to([("en", "en"), ("de", "de")]))
        ledger.write(p)
    stats = {s: StageStats.from_json((tmp_path / "stats" / f"{s}.json").read_text()) for s in ledger.stages}
    assert (stats["url"].seen, stats["url"].kept, dict(stats["url"].dropped)) == (4, 3, {"url_blocked_domain": 1})
    assert (stats["language"].seen, stats["language"].kept) == (3, 3)
    assert dict(stats["language"].categories["lang"]) == {"en": 2, "de": 1}
    assert sum(stats["language"].histograms["lang_score"].counts) == 3
    assert dict(stats["quality"].dropped) == {DropReason.GOPHER_TOO_FEW_WORDS.value: 1}
    assert stats["quality"].samples["gopher_too_few_words"][0].id == "short"


def test_presets_order_the_filters_cheapest_first():
    for preset in ("default", "tiny"):
        assert load_config(preset).filters.order[:3] == ("url", "language", "quality")
    assert [STAGES[s].label for s in ("url", "language", "quality")] == ["FilterUrls", "IdentifyLanguage",
                                                                        "FilterQuality"]


@pytest.mark.e2e
def test_tokenmill_run_on_a_real_warc_reports_named_reasons(tmp_path):
    out = tmp_path / "out"
    warc = ROOT / "samples" / "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz"
    done = subprocess.run([sys.executable, "-m", "tokenmill.pipelines.cli", "run", "--input", str(warc),
                           "--output", str(out), "--config", "tiny"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "report" / "report.json").read_text())
    stages = {s["name"]: s for s in report["stages"]}
    assert {"url", "language", "quality"} <= set(stages)
    reasons = {r.value for r in DropReason}
    for name in ("url", "language", "quality"):
        s = stages[name]
        assert s["seen"] == s["kept"] + sum(s["dropped"].values()) + sum(s["errors"].values())
        assert set(s["dropped"]) <= reasons
    assert stages["language"]["seen"] == stages["url"]["kept"] > 0
    language = json.loads((out / "stats" / "language.json").read_text())
    assert sum(language["categories"]["lang"].values()) == stages["language"]["kept"]
    assert set(language["categories"]["lang"]) & {"zh", "ru", "de", "nl"}

"""report_plots: histogram bins, and SVG that is inert and escaped whatever the labels say."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from tokenmill.pipelines import report_plots as plots
from tokenmill.transforms.stats import HISTOGRAM_EDGES, Histogram

SVG_NS = "{http://www.w3.org/2000/svg}"


def _hist(kind: str, values: list[float]) -> Histogram:
    hist = Histogram.named(kind)
    for value in values:
        hist.add(value)
    return hist


def test_score_bins_keep_the_full_range_and_show_a_score_of_one():
    hist = _hist("score", [0.0, 0.42, 1.0, 1.0])
    bounds, counts, log_x = plots.histogram_bins(list(hist.edges), hist.counts)
    assert not log_x
    assert bounds[0] == 0.0 and abs(bounds[-1] - 1.05) < 1e-9   # over-range bin [1.0, 1.05) for 1.0
    assert counts[0] == 1 and counts[8] == 1 and counts[-1] == 2 and sum(counts) == 4
    assert len(bounds) == len(counts) + 1


def test_length_bins_are_log_spaced_and_trimmed_to_the_data():
    hist = _hist("chars", [0.0, 120.0, 5000.0])
    bounds, counts, log_x = plots.histogram_bins(list(hist.edges), hist.counts)
    assert log_x and sum(counts) == 3
    assert counts[0] == 1 and bounds[0] < 1.0            # the under-range bin holds the empty document
    assert bounds[-1] < 20_000 and counts[-1] == 0       # trimmed to one empty bin after the last value
    assert len(bounds) == len(counts) + 1


def test_an_empty_histogram_or_bar_chart_draws_nothing():
    assert plots.histogram_plot("chars", list(HISTOGRAM_EDGES["chars"]), Histogram.named("chars").counts, "k") is None
    assert plots.bar_plot("Language mix", {}, "k") is None


def test_hostile_labels_are_escaped_text_in_valid_svg():
    labels = {"<script>alert(1)</script>": 5, '"><img onerror=x>': 3, "&amp; $5 $x^2$ \\": 2, "javascript:x()": 1,
              r"a\b \$ \\$$": 1}
    svg = plots.bar_plot("<b>title</b>", labels, "hostile")
    root = ET.fromstring(svg)   # well-formed XML: nothing broke out of a text node or attribute
    elements = list(root.iter())
    assert not [el for el in elements if el.tag.split("}")[-1] in ("script", "foreignObject", "a", "image")]
    assert not [(el.tag, a) for el in elements for a in el.attrib if a.lower().startswith("on")]
    texts = {"".join(el.itertext()) for el in root.iter(f"{SVG_NS}text")}
    assert set(labels) | {"<b>title</b>"} <= texts
    assert "&lt;script&gt;" in svg and "<script" not in svg


def test_long_labels_are_shortened_and_other_values_summed():
    counts = {f"value-{i:02d}-" + "x" * 60: 100 - i for i in range(30)}
    svg = plots.bar_plot("Many", counts, "many", top=5)
    texts = ["".join(el.itertext()) for el in ET.fromstring(svg).iter(f"{SVG_NS}text")]
    assert "other (26 values)" in texts
    assert all(len(t) <= plots.LABEL_CHARS for t in texts)


def test_figures_in_one_page_share_no_ids():
    a = plots.bar_plot("A", {"x": 1, "y": 2}, "a")
    b = plots.bar_plot("A", {"x": 1, "y": 2}, "b")
    ids_a, ids_b = set(re.findall(r'\sid="([^"]+)"', a)), set(re.findall(r'\sid="([^"]+)"', b))
    assert ids_a and not ids_a & ids_b
    assert "<?xml" not in a and "<metadata" not in a and a.startswith("<svg")
    assert plots.bar_plot("A", {"x": 1, "y": 2}, "a") == a   # deterministic for the same key


def test_loss_curve_and_funnel_render():
    training = {"steps": [0, 10, 20], "loss": [5.0, 4.0, 3.5], "val_loss": [[20, 3.7]]}
    assert "Training loss" in plots.loss_plot(training)
    assert plots.loss_plot({"steps": [], "loss": []}) is None
    report = {"stages": [{"name": "read", "seen": 10, "kept": 6}, {"name": "extract", "seen": 6, "kept": 5}]}
    svg = plots.funnel_plot(report)
    assert "Documents per stage" in svg and "extract" in svg

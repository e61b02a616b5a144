"""index.html: its numbers equal report.json's, and hostile strings only ever render as text."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from tokenmill.pipelines.report import invariant_problems
from tokenmill.pipelines.report_html import CSP, render_html

URL_ATTRIBUTES = {"href", "src", "xlink:href", "action", "formaction", "data", "poster"}


def _count(cell: str) -> int:
    return int(cell.replace(",", ""))


@pytest.mark.e2e
def test_funnel_and_reasons_in_the_page_equal_report_json(run_b, parse_tables):
    report = json.loads((run_b / "report" / "report.json").read_text(encoding="utf-8"))
    tables = parse_tables((run_b / "report" / "index.html").read_text(encoding="utf-8"))
    assert invariant_problems(report) == []
    assert len(report["stages"]) >= 2 and report["input"]["files"] == 2

    funnel = next(t for t in tables if t["attrs"].get("id") == "funnel")
    rows = {attrs["data-stage"]: cells for attrs, cells in funnel["rows"] if "data-stage" in attrs}
    assert _count(rows["(input)"][1]) == report["input"]["records"]
    assert _count(rows["(other records)"][1]) == report["input"]["other_records"] > 0
    assert "request" in rows["(other records)"][0]
    assert _count(rows["(pages)"][1]) == report["input"]["pages"] == report["stages"][0]["seen"]
    assert _count(rows["(documents)"][1]) == report["output"]["documents"]
    assert _count(rows["(tokens)"][1]) == report["output"]["tokens"]
    assert list(rows)[3:-2] == [s["name"] for s in report["stages"]]
    for stage in report["stages"]:
        name, seen, kept, dropped, errors, kept_share = rows[stage["name"]][:6]
        assert (_count(seen), _count(kept)) == (stage["seen"], stage["kept"])
        assert _count(dropped) == sum(stage["dropped"].values())
        assert _count(errors) == sum(stage["errors"].values())
        assert kept_share == f"{stage['kept'] / stage['seen']:.1%}"

    reasons = {t["attrs"]["data-stage"]: t for t in tables if t["attrs"].get("class") == "reasons"}
    for stage in report["stages"]:
        expected = {("dropped", r): n for r, n in stage["dropped"].items()}
        expected.update({("error", k): n for k, n in stage["errors"].items()})
        if not expected:
            assert stage["name"] not in reasons
            continue
        shown = {(attrs["data-kind"], attrs["data-reason"]): cells
                 for attrs, cells in reasons[stage["name"]]["rows"] if "data-reason" in attrs}
        assert {key: _count(cells[2]) for key, cells in shown.items()} == expected
        for (kind, reason), cells in shown.items():
            assert cells[0] == reason and cells[1] == kind
            assert cells[3] == f"{expected[(kind, reason)] / stage['seen']:.1%}"


@pytest.mark.e2e
def test_costs_languages_and_hosts_in_the_page_equal_report_json(run_b, parse_tables):
    report = json.loads((run_b / "report" / "report.json").read_text(encoding="utf-8"))
    tables = {t["attrs"].get("id"): t for t in parse_tables((run_b / "report" / "index.html").read_text(encoding="utf-8"))}
    costs = report["costs"]
    shown = {attrs["data-cost"]: cells for attrs, cells in tables["costs"]["rows"] if "data-cost" in attrs}
    assert {name: float(cells[1].replace(",", "")) for name, cells in shown.items()} == {
        **{r["name"]: round(r["seconds"], 2) for r in costs["rows"]},
        "(outside)": round(costs["unattributed_seconds"], 2), "(total)": round(costs["job_cpu_seconds"], 2)}
    langs = {attrs["data-lang"]: cells for attrs, cells in tables["languages"]["rows"] if "data-lang" in attrs}
    assert {lang: (_count(c[1]), _count(c[4])) for lang, c in langs.items()} == {
        l["lang"]: (l["documents"], l["tokens"]) for l in report["output"]["languages"]}
    assert sum(l["documents"] for l in report["output"]["languages"]) == report["output"]["documents"]
    assert sum(l["tokens"] for l in report["output"]["languages"]) == report["output"]["tokens"]
    for key in ("kept", "dropped"):
        hosts = [(attrs["data-host"], _count(cells[1]), _count(cells[2]))
                 for attrs, cells in tables[f"hosts-{key}"]["rows"] if "data-host" in attrs]
        assert hosts == [(d["host"], d["kept"], d["dropped"]) for d in report["output"]["domains"][f"top_{key}"]]
    top_kept = report["output"]["domains"]["top_kept"]
    assert sum(d["kept"] for d in top_kept) <= report["output"]["documents"]
    assert [d["kept"] for d in top_kept] == sorted((d["kept"] for d in top_kept), reverse=True)


class _Markup(HTMLParser):
    """Every start tag with its attributes, and all text, as a browser's tokenizer would see them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def assert_inert(html: str) -> _Markup:
    """No script element, no event handler, no script URL, no external resource; CSP present."""
    markup = _Markup()
    markup.feed(html)
    tags = [t for t, _ in markup.tags]
    assert "script" not in tags and "iframe" not in tags and "object" not in tags and "embed" not in tags
    for tag, attrs in markup.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            if name in URL_ATTRIBUTES:
                scheme = (value or "").strip().lower()
                assert scheme.startswith(("http://", "https://", "#")), (tag, name, value)
    csp = [a["content"] for t, a in markup.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [CSP] and "default-src 'none'" in CSP and "script-src" not in CSP
    return markup


@pytest.mark.e2e
def test_hostile_strings_in_every_field_render_as_text(poisoned_report, attacks):
    html = render_html(poisoned_report)
    text = "".join(assert_inert(html).text)
    for attack in attacks.values():
        assert attack in text
    assert "$5 and $x^2$" in text          # a plot label with dollars stays literal (no mathtext)
    assert "<script>window.pwned" in text  # as text, in samples, plot labels, config and more


@pytest.mark.e2e
def test_a_real_hostile_run_page_is_inert(run_a):
    html = (run_a / "report" / "index.html").read_text(encoding="utf-8")
    text = "".join(assert_inert(html).text)
    # The attacks that reach the page through URLs and details are there, as text.
    assert "javascript:window.pwned=4" in text
    assert 'onerror="window.pwned = 2' in text
    assert "image/x<script>window.pwned = 1" in text
    assert "svg onload=window.pwned=3" in text


def test_signals_of_later_stages_get_plots_without_report_changes():
    """Stats as the language, quality, dedup, toxicity and PII stages record them become plots."""
    import math

    from tokenmill.pipelines.report import stage_entry
    from tokenmill.transforms.stats import StageStats

    language, quality, dedup, toxicity, pii = (StageStats(n) for n in
                                               ("language", "quality", "near_dedup", "toxicity", "pii"))
    for i in range(40):
        language.observe("lang_score", "score", (i % 20) / 20)
        language.count_category("lang", ["en", "de", "fr"][i % 3])
        quality.observe("gopher_mean_word_length", "chars", 3 + i % 5)
        dedup.observe("cluster_size", "chars", 1 + i % 4)
        toxicity.observe("toxicity", "score", math.exp(-i))
    pii.extra.update({"pii.EMAIL_ADDRESS": 7, "pii.PHONE_NUMBER": 3})
    stages = [stage_entry(s) for s in (language, quality, dedup, toxicity, pii)]
    report = {"run": {}, "input": {"patterns": [], "files": 0, "records": 0, "bytes": 0},
              "stages": stages, "output": {"documents": 0, "tokens": 0, "shards": 0}}
    html = render_html(report)
    for title in ("Language mix", "Language-ID score", "Gopher mean word length", "Near-duplicate cluster size",
                  "Toxicity score", "PII found, per entity type", "EMAIL_ADDRESS"):
        assert title in html, title
    assert html.count("<svg") == 6 + 1   # the five stages' six plots and the funnel

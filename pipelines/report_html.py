"""`report/index.html`: one self-contained page (no network, no script) built from report.json.

The page shows the run, the funnel from records read (pages told apart from the other WARC
records) to tokens written, what each stage cost in CPU seconds beside the job's total, per stage
a table of reasons with counts and shares, the stage's plots and sampled dropped documents
(expandable with `<details>`, which needs no script), the kept documents and tokens per
language, the top hosts by kept and by dropped pages, the token shards and a training loss curve
once one is attached. Everything a stage puts in its stats (histograms, categories, extra counters) is drawn
generically, so a stage that lands later shows up without changes here.

Safety: every string that reaches the page goes through `html.escape` (page text, URLs, reasons,
config, even stage names); URLs become links only for http(s); plot labels are escaped by
matplotlib's SVG writer (see report_plots). The Content-Security-Policy allows no script at all
and no request of any kind (`default-src 'none'`), so a missed escape still could not run code
or leak a request. Reference for the policy: https://www.w3.org/TR/CSP3/.
"""

from __future__ import annotations

import re
from html import escape

from tokenmill.pipelines import report_plots as plots
from tokenmill.pipelines.report import REMAINDER_DETAIL, REMAINDER_LABEL, cost_label, invariant_problems

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
SNIPPET_CHARS = 160
TEXT_TD = "<td class='text'>"
_HTTP_URL = re.compile(r"https?://[^\s]+\Z", re.I)

STYLE = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #dde2ea; --bg: #f6f8fb; --accent: #3b6fb6; --bad: #b23b3b; }
* { box-sizing: border-box; }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: var(--ink); background: #fff; }
header { background: var(--bg); border-bottom: 1px solid var(--line); padding: 1.4rem 2rem 1rem; }
main { max-width: 76rem; margin: 0 auto; padding: 0 2rem 4rem; }
h1 { margin: 0 0 .2rem; font-size: 1.5rem; } h2 { margin: 2.2rem 0 .6rem; font-size: 1.2rem; }
h3 { margin: 1.6rem 0 .4rem; font-size: 1.05rem; } .muted { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; margin-top: 1rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .5rem .9rem; min-width: 9rem; }
.card b { display: block; font-size: 1.25rem; } .card span { color: var(--muted); font-size: .85rem; }
.bad { color: var(--bad); } .ok { color: #2f7d4a; }
table { border-collapse: collapse; margin: .4rem 0 1rem; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid var(--line); text-align: right; vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
th:first-child, td:first-child, td.text { text-align: left; } td.text { word-break: break-all; }
tr.total td { font-weight: 600; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(26rem, 1fr)); gap: 1rem; }
.plots figure { margin: 0; } svg { width: 100%; height: auto; }
section.stage { border-top: 1px solid var(--line); margin-top: 1.5rem; }
details { margin: .25rem 0; } summary { cursor: pointer; }
details.sample { border-left: 3px solid var(--line); padding-left: .6rem; }
details.sample summary { word-break: break-all; }
.url { font-family: ui-monospace, monospace; font-size: .85rem; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--bg); padding: .6rem; border-radius: 4px; }
"""


def e(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _url(url: str) -> str:
    """A link for http(s) URLs, plain text otherwise (javascript:, data:, ... never become links)."""
    if _HTTP_URL.match(url):
        return f'<a class="url" href="{e(url)}" rel="noopener noreferrer nofollow">{e(url)}</a>'
    return f'<span class="url">{e(url)}</span>'


def _table(header: list[str], rows: list[str], attrs: str = "") -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    return f"<table {attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _row(cells: list, attrs: str = "", text_cols: tuple[int, ...] = (0,)) -> str:
    tds = "".join((TEXT_TD if i in text_cols else "<td>") + e(_num(c)) + "</td>" for i, c in enumerate(cells))
    return f"<tr {attrs}>{tds}</tr>"


def _figure(svg: str | None, caption: str = "") -> str:
    if svg is None:
        return ""
    caption = f"<figcaption class='muted'>{e(caption)}</figcaption>" if caption else ""
    return f"<figure>{svg}{caption}</figure>"


def _cards(report: dict) -> str:
    inp, out = report["input"], report["output"]
    problems = invariant_problems(report)
    pages = inp.get("pages", inp["records"])
    job_cpu = (report.get("costs") or {}).get("job_cpu_seconds")
    cards = [
        (_num(pages), f"pages read (of {_num(inp['records'])} records)"),
        (_num(out["documents"]), f"documents kept ({_share(out['documents'], pages)} of pages)"),
        (_num(out["tokens"]), f"tokens in {out['shards']} shards"),
        (f"{report['run'].get('seconds', '-')} s", "wall time"),
        (f"{job_cpu:,.1f} s" if job_cpu is not None else "-", "job CPU time"),
        ("holds" if not problems else "BROKEN", "accounting invariant"),
    ]
    html = "".join(f"<div class='card'><b>{e(v)}</b><span>{e(k)}</span></div>" for v, k in cards)
    broken = "".join(f"<p class='bad'>{e(p)}</p>" for p in problems)
    return f"<div class='cards' id='cards'>{html}</div>{broken}"


def _run_section(report: dict) -> str:
    run, inp = report["run"], report["input"]
    known = [("started", "started"), ("finished", "finished"), ("seconds", "wall time, s"),
             ("runner", "runner"), ("config", "config"), ("overrides", "overrides"),
             ("config_sha256", "config sha256"), ("version", "tokenmill version")]
    rows = [_row([label, ", ".join(map(str, run[k])) if isinstance(run[k], list) else run[k]], text_cols=(0, 1))
            for k, label in known if k in run and run[k] not in (None, "", [])]
    rows += [_row([k, v], text_cols=(0, 1)) for k, v in run.items()
             if k not in dict(known) and not isinstance(v, (dict, list))]
    rows += [_row(["input patterns", ", ".join(inp.get("patterns", []))], text_cols=(0, 1)),
             _row(["input files", inp["files"]], text_cols=(0, 1)),
             _row(["input bytes", inp["bytes"]], text_cols=(0, 1)),
             _row(["input records", inp["records"]], text_cols=(0, 1))]
    versions = run.get("versions") or {}
    extra = ""
    if versions:
        extra += "<details><summary>Library versions</summary>" + _table(
            ["library", "version"], [_row([k, v], text_cols=(0, 1)) for k, v in versions.items()]) + "</details>"
    if report.get("config_resolved"):
        extra += f"<details><summary>Resolved config</summary><pre>{e(report['config_resolved'])}</pre></details>"
    info = f"<table id='run-info'><tbody>{''.join(rows)}</tbody></table>"
    return f"<h2 id='run'>Run</h2>{info}{extra}"


def _funnel_section(report: dict) -> str:
    inp = report["input"]
    records, pages = inp["records"], inp.get("pages", inp["records"])
    header = ["stage", "seen", "kept", "dropped", "errors", "kept of seen", "kept of pages",
              "stage CPU, s", "docs per CPU s"]
    rows = [_row(["records read", records, "", "", "", "", "", "", ""], "data-stage='(input)'")]
    if "pages" in inp:
        types = ", ".join(f"{n:,} {t}" for t, n in sorted(inp.get("other_record_types", {}).items()))
        rows += [_row([f"other records, not pages ({types or 'none'})", inp.get("other_records", 0),
                       "", "", "", "", "", "", ""], "data-stage='(other records)'"),
                 _row(["pages read", pages, "", "", "", "", "", "", ""], "data-stage='(pages)'")]
    for s in report["stages"]:
        rows.append(_row([s["name"], s["seen"], s["kept"], sum(s["dropped"].values()), sum(s["errors"].values()),
                          _share(s["kept"], s["seen"]), _share(s["kept"], pages),
                          f"{s.get('seconds', 0):.2f}", _num(round(s["docs_per_s"])) if s.get("docs_per_s") else "-"],
                         f"data-stage='{e(s['name'])}'"))
    out = report["output"]
    rows.append(_row(["documents written", out["documents"], "", "", "", "", _share(out["documents"], pages), "", ""],
                     "class='total' data-stage='(documents)'"))
    rows.append(_row(["tokens written", out["tokens"], "", "", "", "", "", "", ""], "class='total' data-stage='(tokens)'"))
    plot = _figure(plots.funnel_plot(report), "Kept and dropped documents per stage, in pipeline order.")
    table = _table(header, rows, "id='funnel'")
    return f"<h2 id='funnel-title'>Funnel</h2>{table}<div class='plots'>{plot}</div>"


def _cost_section(report: dict) -> str:
    costs = report.get("costs")
    if not costs:
        return ""
    job = costs.get("job_cpu_seconds")
    rows = [_row([cost_label(r), f"{r['seconds']:,.2f}",
                  _share(r["seconds"], job) if job else "-", r.get("detail", "")],
                 f"data-cost='{e(r['name'])}'", text_cols=(0, 3)) for r in costs["rows"]]
    if job is not None:
        rows.append(_row([REMAINDER_LABEL, f"{costs['unattributed_seconds']:,.2f}",
                          _share(costs["unattributed_seconds"], job), REMAINDER_DETAIL],
                         "data-cost='(outside)'", text_cols=(0, 3)))
        rows.append(_row(["job total", f"{job:,.2f}", "100.0%", ""], "class='total' data-cost='(total)'",
                         text_cols=(0, 3)))
        note = (f"The measured rows account for {costs['attributed_seconds']:,.2f} of the job's {job:,.2f} CPU seconds "
                f"({costs['attributed_share']:.1%}).")
    else:
        note = "The job's total CPU time was not measured: the job ran outside the launching process."
    table = _table(["what", costs["unit"], "share of job", "includes"], rows, "id='costs'")
    return (f"<h2 id='costs-title'>Cost</h2><p class='muted'>{e(costs['unit'])}: {e(costs['how'])}. {e(note)}</p>"
            f"{table}")


def _reasons_table(stage: dict) -> str:
    seen = stage["seen"]
    lost = sum(stage["dropped"].values()) + sum(stage["errors"].values())
    rows = []
    for kind, counts in (("dropped", stage["dropped"]), ("error", stage["errors"])):
        for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append(_row([reason, kind, n, _share(n, seen), _share(n, lost)],
                             f"data-reason='{e(reason)}' data-kind='{kind}'", text_cols=(0, 1)))
    if not rows:
        return "<p class='muted'>Nothing dropped, no errors.</p>"
    return _table(["reason", "kind", "count", "share of seen", "share of losses"], rows,
                  f"class='reasons' data-stage='{e(stage['name'])}'")


def _stage_plots(stage: dict, index: int) -> str:
    figures = []
    for i, (name, hist) in enumerate(sorted(stage.get("histograms", {}).items())):
        xlabel = "characters" if name == "chars" else name
        figures.append(_figure(plots.histogram_plot(name, hist["edges"], hist["counts"], f"s{index}-h{i}", xlabel),
                               f"{stage['name']}: every document the stage saw, kept or dropped."))
    for i, (name, counts) in enumerate(sorted(stage.get("categories", {}).items())):
        figures.append(_figure(plots.bar_plot(plots.title_for(name), counts, f"s{index}-c{i}"),
                               f"{stage['name']}: documents kept, by {name}."))
    for i, (prefix, counts) in enumerate(sorted(_extra_groups(stage.get("extra", {})).items())):
        figures.append(_figure(plots.bar_plot(plots.title_for(prefix), counts, f"s{index}-x{i}", "count"),
                               f"{stage['name']}: {prefix}.* counters."))
    figures = [f for f in figures if f]
    return f"<div class='plots'>{''.join(figures)}</div>" if figures else ""


def _extra_groups(extra: dict) -> dict[str, dict[str, float]]:
    """Numeric counters named `prefix.key` grouped by prefix (e.g. `pii.EMAIL_ADDRESS`)."""
    groups: dict[str, dict[str, float]] = {}
    for key, value in extra.items():
        if "." in key and isinstance(value, (int, float)):
            prefix, rest = key.split(".", 1)
            groups.setdefault(prefix, {})[rest] = value
    return groups


def _samples(stage: dict) -> str:
    blocks = []
    for reason, items in sorted(stage.get("samples", {}).items()):
        docs = []
        for item in items:
            text, url = item.get("text", ""), item.get("url") or ""
            snippet = " ".join(text[:SNIPPET_CHARS].split())
            head = _url(url) if url else f"<span class='url'>{e(item.get('id', ''))}</span>"
            docs.append(f"<details class='sample'><summary>{head} <span class='muted'>{e(snippet)}</span></summary>"
                        f"<p><b>detail:</b> {e(item.get('detail', ''))}</p><pre>{e(text) or '(no text)'}</pre></details>")
        blocks.append(f"<details class='samples' data-reason='{e(reason)}'><summary>{e(reason)}: "
                      f"{len(items)} sampled documents</summary>{''.join(docs)}</details>")
    return "<h4>Sampled dropped documents</h4>" + "".join(blocks) if blocks else ""


def _stage_section(stage: dict, index: int) -> str:
    extra = stage.get("extra", {})
    extra_table = _table(["counter", "value"], [_row([k, v]) for k, v in sorted(extra.items())],
                         "class='extra'") if extra else ""
    time = f"{stage.get('seconds', 0):.2f} CPU s"
    summary = (f"seen {_num(stage['seen'])}, kept {_num(stage['kept'])} ({_share(stage['kept'], stage['seen'])}), "
               f"{time}")
    return (f"<section class='stage' id='stage-{index}'><h3>{index + 1}. {e(stage['name'])}</h3>"
            f"<p class='muted'>{e(summary)}</p>{_reasons_table(stage)}{_stage_plots(stage, index)}"
            f"{extra_table}{_samples(stage)}</section>")


def _output_section(report: dict) -> str:
    out = report["output"]
    shards = out.get("token_shards") or []
    if not shards:
        return ("<h2 id='output'>Output</h2><p class='muted'>No token shards in this run "
                "(the tokenize stage did not run); documents are in docs/.</p>")
    lengths = out.get("tokens_per_document")
    figures = [_figure(plots.histogram_plot("n_tokens", lengths["edges"], lengths["counts"], "out-len", "tokens")
                       if lengths else None, "Every written document."),
               _figure(plots.shards_plot(shards), "Blue: train, orange: validation.")]
    rows = [_row([s["path"], s["split"], s["rows"], s["tokens"]], text_cols=(0, 1)) for s in shards]
    table = _table(["shard", "split", "documents", "tokens"], rows, "id='shards'")
    return (f"<h2 id='output'>Output</h2><div class='plots'>{''.join(figures)}</div>"
            f"<details><summary>{len(shards)} token shards</summary>{table}</details>")


def _languages_section(report: dict) -> str:
    if "languages" not in report["output"]:   # a report from before languages were counted
        return ""
    langs = report["output"]["languages"]
    if not langs:
        return "<h2 id='languages-title'>Kept documents by language</h2><p class='muted'>No documents kept.</p>"
    rows = [_row([l["lang"], l["documents"], _share(l["documents"], report["output"]["documents"]), l["chars"],
                  "-" if l["tokens"] is None else l["tokens"]], f"data-lang='{e(l['lang'])}'") for l in langs]
    table = _table(["language", "documents kept", "share", "characters", "tokens"], rows, "id='languages'")
    return f"<h2 id='languages-title'>Kept documents by language</h2>{table}"


def _hosts_section(report: dict) -> str:
    domains = report["output"].get("domains")
    if not domains:
        return ""
    tables = []
    for key, title in (("top_kept", "most kept pages"), ("top_dropped", "most dropped pages")):
        rows = [_row([d["host"], d["kept"], d["dropped"], d["errors"]], f"data-host='{e(d['host'])}'")
                for d in domains[key]]
        body = _table(["host", "kept", "dropped", "errors"], rows, f"id='hosts-{key[4:]}'") if rows else \
            "<p class='muted'>None.</p>"
        tables.append(f"<div><h3>Hosts with the {e(title)}</h3>{body}</div>")
    return (f"<h2 id='hosts-title'>Top hosts</h2><p class='muted'>{_num(domains['hosts'])} hosts in all; "
            f"pages per host, kept (written) and dropped at any stage.</p><div class='plots'>{''.join(tables)}</div>")


def _training_section(report: dict) -> str:
    training = report.get("training")
    if not training:
        return ("<h2 id='training'>Training</h2><p class='muted'>No training run attached. Attach one with "
                "<code>tokenmill report DIR --train-log RUN/train_log.jsonl</code>.</p>")
    last = training.get("last", {})
    facts = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in last.items())
    return (f"<h2 id='training'>Training</h2><p class='muted'>From {e(training.get('log', ''))}; "
            f"last logged step: {e(facts)}</p><div class='plots'>{_figure(plots.loss_plot(training))}</div>")


def render_html(report: dict) -> str:
    """The whole page for one report.json (a dict); a pure function of it."""
    patterns = ", ".join(report["input"].get("patterns", []))
    stages = "".join(_stage_section(s, i) for i, s in enumerate(report["stages"]))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tokenmill report</title><style>{STYLE}</style></head>
<body><header><h1>tokenmill run report</h1>
<div class="muted">{e(patterns)} &middot; finished {e(report['run'].get('finished', '?'))}</div>
{_cards(report)}</header>
<main>
{_funnel_section(report)}
{_cost_section(report)}
<h2 id="stages">Stages</h2>{stages}
{_languages_section(report)}
{_hosts_section(report)}
{_output_section(report)}
{_training_section(report)}
{_run_section(report)}
</main></body></html>
"""

"""`report/index.html`: one self-contained page (no network) with the run's accounting.

Everything that comes from crawled pages (text, URLs, details) is hostile input and is escaped
with `html.escape`; the Content-Security-Policy forbids scripts, so even a missed escape could
not run one.
"""

from __future__ import annotations

from html import escape

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
details { margin: .3rem 0; } pre { white-space: pre-wrap; background: #f6f6f6; padding: .5rem; }
.bar { background: #4a7bd0; height: .8rem; display: inline-block; }
"""


def _row(cells: list, header: bool = False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag}>{escape(str(c))}</{tag}>" for c in cells) + "</tr>"


def _funnel(report: dict) -> str:
    rows = [_row(["stage", "seen", "kept", "dropped", "errors", "kept share", "docs/s"], header=True)]
    for s in report["stages"]:
        share = s["kept"] / s["seen"] if s["seen"] else 0.0
        rows.append(_row([s["name"], s["seen"], s["kept"], sum(s["dropped"].values()),
                          sum(s["errors"].values()), f"{share:.1%}", s["docs_per_s"] or "-"]))
    return "<table id='funnel'>" + "".join(rows) + "</table>"


def _reasons(stage: dict) -> str:
    total = stage["seen"] or 1
    rows = [_row(["reason", "kind", "count", "share of seen"], header=True)]
    for kind, counts in (("dropped", stage["dropped"]), ("error", stage["errors"])):
        for reason, n in counts.items():
            rows.append(_row([reason, kind, n, f"{n / total:.1%}"]))
    samples = []
    for reason, items in stage["samples"].items():
        for item in items:
            samples.append(f"<details><summary>{escape(reason)}: {escape(item['url'] or item['id'])}</summary>"
                           f"<p>{escape(item['detail'])}</p><pre>{escape(item['text'])}</pre></details>")
    return (f"<h3>{escape(stage['name'])}</h3><table class='reasons'>" + "".join(rows) + "</table>"
            + "".join(samples))


def render_html(report: dict) -> str:
    run, inp, out = report["run"], report["input"], report["output"]
    info = [_row([k, v]) for k, v in run.items() if not isinstance(v, dict)]
    info += [_row(["input " + k, v if not isinstance(v, list) else ", ".join(v)]) for k, v in inp.items()]
    info += [_row(["output " + k, v]) for k, v in out.items()]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>tokenmill report</title><style>{STYLE}</style></head>
<body><h1>tokenmill run report</h1>
<table id="run">{''.join(info)}</table>
<h2>Funnel</h2>{_funnel(report)}
<h2>Stages</h2>{''.join(_reasons(s) for s in report['stages'])}
</body></html>
"""

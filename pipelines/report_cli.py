"""Terminal views of run reports: `tokenmill report DIR` and `tokenmill report --compare A B`."""

from __future__ import annotations

import webbrowser
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tokenmill.pipelines.report import load_report


def _console() -> Console:
    return Console(stderr=False, highlight=False)


def print_summary(report: dict, console: Console | None = None) -> None:
    console = console or _console()
    inp, out = report["input"], report["output"]
    console.print(f"input: {inp['files']} files, {inp['records']} records, {inp['bytes']:,} bytes")
    table = Table(title="stages", title_justify="left")
    for col in ("stage", "seen", "kept", "dropped", "errors", "docs/s", "top reasons"):
        table.add_column(col, justify="left" if col in ("stage", "top reasons") else "right")
    for s in report["stages"]:
        reasons = {**s["dropped"], **{f"error:{k}": v for k, v in s["errors"].items()}}
        top = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
        table.add_row(s["name"], f"{s['seen']:,}", f"{s['kept']:,}", f"{sum(s['dropped'].values()):,}",
                      f"{sum(s['errors'].values()):,}", f"{s['docs_per_s']:,.0f}" if s["docs_per_s"] else "-", top)
    console.print(table)
    console.print(f"output: {out['documents']:,} documents, {out['tokens']:,} tokens in {out['shards']} shards")


def print_compare(a: dict, b: dict, name_a: str, name_b: str, console: Console | None = None) -> None:
    """Per stage and reason: the count in each run and the difference (B - A)."""
    console = console or _console()
    table = Table(title=f"{name_a} -> {name_b}", title_justify="left")
    for col in ("stage", "count", "A", "B", "B-A"):
        table.add_column(col, justify="left" if col in ("stage", "count") else "right")

    def add(stage: str, what: str, x: int, y: int) -> None:
        table.add_row(stage, what, f"{x:,}", f"{y:,}", f"{y - x:+,}" if y != x else "0")

    add("input", "records", a["input"]["records"], b["input"]["records"])
    stages_a = {s["name"]: s for s in a["stages"]}
    stages_b = {s["name"]: s for s in b["stages"]}
    empty = {"seen": 0, "kept": 0, "dropped": {}, "errors": {}}
    for name in list(stages_a) + [n for n in stages_b if n not in stages_a]:
        sa, sb = stages_a.get(name, empty), stages_b.get(name, empty)
        add(name, "seen", sa["seen"], sb["seen"])
        add(name, "kept", sa["kept"], sb["kept"])
        for kind in ("dropped", "errors"):
            for reason in sorted(set(sa[kind]) | set(sb[kind])):
                add(name, f"{kind[:-1] if kind == 'errors' else kind}: {reason}",
                    sa[kind].get(reason, 0), sb[kind].get(reason, 0))
    add("output", "documents", a["output"]["documents"], b["output"]["documents"])
    add("output", "tokens", a["output"]["tokens"], b["output"]["tokens"])
    console.print(table)


def report_command(args) -> int:
    from tokenmill.pipelines.cli import UsageError

    for d in args.dirs:
        if not (Path(d) / "report" / "report.json").exists():
            raise UsageError(f"{d}: no report/report.json (is it a tokenmill run's output directory?)")
    if args.compare:
        if len(args.dirs) != 2:
            raise UsageError("--compare needs exactly two run directories")
        print_compare(load_report(args.dirs[0]), load_report(args.dirs[1]), args.dirs[0], args.dirs[1])
        return 0
    if len(args.dirs) != 1:
        raise UsageError("give one run directory (or two with --compare)")
    html = (Path(args.dirs[0]) / "report" / "index.html").resolve()
    if args.html:
        print(html)
        return 0
    if args.open:
        webbrowser.open(html.as_uri())
        return 0
    print_summary(load_report(args.dirs[0]))
    return 0

"""Terminal views of run reports: `tokenmill report DIR` and `tokenmill report --compare A B`."""

from __future__ import annotations

import sys
import time
import webbrowser
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tokenmill.pipelines.report import (PENDING, build_report, invariant_problems, load_report, read_pending,
                                        write_report)


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


def finish_report(out_dir: str, stages: list[str], run: dict, inputs: list[str]) -> int:
    """Builds and writes the report from the run's stats files, prints it; 1 if the invariant breaks."""
    report = build_report(out_dir, stages, run, inputs)
    _, html = write_report(out_dir, report)
    print_summary(report)
    problems = invariant_problems(report)
    for problem in problems:
        print(f"tokenmill: accounting invariant broken: {problem}", file=sys.stderr)
    took = f" (took {time.strftime('%H:%M:%S', time.gmtime(run['seconds']))})" if run.get("seconds") else ""
    print(f"tokenmill: report at {html}{took}", file=sys.stderr)
    return 1 if problems else 0


def _build_detached(out_dir: str) -> int:
    from tokenmill.pipelines.cli import UsageError

    pending = read_pending(out_dir)
    if pending is None:
        raise UsageError(f"{out_dir}: no report/{PENDING} (--build is for runs started with --detach)")
    run = {**pending["run"], "report_built": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    return finish_report(out_dir, pending["stages"], run, pending["inputs"])


def report_command(args) -> int:
    from tokenmill.pipelines.cli import UsageError

    if args.build:
        if len(args.dirs) != 1:
            raise UsageError("--build takes one run directory")
        return _build_detached(args.dirs[0])
    for d in args.dirs:
        if (Path(d) / "report" / PENDING).exists() and not (Path(d) / "report" / "report.json").exists():
            raise UsageError(f"{d}: started with --detach; when its job has finished: tokenmill report --build {d}")
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

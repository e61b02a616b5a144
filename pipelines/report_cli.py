"""Terminal views of run reports: `tokenmill report DIR`, `--compare A B`, and `--build DIR`.

The summary is what a person wants after a run: where the documents went (per stage kept,
dropped, errors, the main reasons with their shares, time), what was written, and whether the
accounting invariant holds. The comparison answers "what changed between these two runs" (a
threshold change, a new dump): the config keys that differ, then per stage and reason the counts
side by side with their difference. `--build` writes the report of a run started with
`tokenmill run --detach` (a cluster job the launcher did not wait for) once its job has finished, and
releases the claim that run kept on OUT (pipelines/run_lock.py). A directory a run is still writing,
or one a stopped run left incomplete, is refused in one line.
Tables are drawn by `rich`, with markup and emoji codes off: URLs, reasons, config overrides
(`--set language.languages=[en]`) and page text are printed as they are, never read as markup.
"""

from __future__ import annotations

import sys
import time
import webbrowser
from pathlib import Path

import yaml
from apache_beam.io.filesystems import FileSystems
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tokenmill.pipelines.report import (PENDING, REMAINDER_DETAIL, REMAINDER_LABEL, attach_training, build_report, cost_label,
                                        invariant_problems, load_report, read_pending, write_report)
from tokenmill.pipelines.run_lock import finish, status_line


def _console() -> Console:
    # markup=False: "[en]" or "[/]" in user text is text; emoji=False: ":smile:" stays as typed.
    return Console(stderr=False, highlight=False, markup=False, emoji=False)


def _row(table: Table, *cells: str, **kwargs) -> None:
    """A table row whose cells are Text: never parsed as markup, whatever console prints it."""
    table.add_row(*(Text(c) for c in cells), **kwargs)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def stages_table(report: dict) -> Table:
    """Per stage the accounting and its cost; below, the costs outside the stages and the total."""
    costs = report.get("costs") or {}
    unit = "CPU s" if costs.get("unit") == "CPU seconds" else "time s"
    table = Table(title="stages", title_justify="left")
    for col in ("stage", "seen", "kept", "kept %", "dropped", "errors", unit, f"docs/{unit[:-2]}s"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    stages = report["stages"]
    for i, s in enumerate(stages):
        _row(table, s["name"], f"{s['seen']:,}", f"{s['kept']:,}", _share(s["kept"], s["seen"]),
             f"{sum(s['dropped'].values()):,}", f"{sum(s['errors'].values()):,}",
             _seconds(s.get("seconds", 0)), f"{s['docs_per_s']:,.0f}" if s.get("docs_per_s") else "-",
             end_section=i + 1 == len(stages))
    for row in costs.get("rows", []):
        if row.get("kind") != "stage":
            _row(table, cost_label(row), "", "", "", "", "", _seconds(row["seconds"]), "")
    if costs.get("job_cpu_seconds") is not None:
        _row(table, REMAINDER_LABEL, "", "", "", "", "", _seconds(costs["unattributed_seconds"]), "")
        _row(table, "job total", "", "", "", "", "", _seconds(costs["job_cpu_seconds"]), "", style="bold")
    return table


def cost_note(report: dict) -> str:
    """How the seconds were measured, and how much of the job's CPU time the steps account for."""
    costs = report.get("costs")
    if not costs:
        return "time: wall seconds inside each stage's steps (a report from before costs were measured)"
    note = f"time: {costs['unit']}, {costs['how']}"
    if costs.get("job_cpu_seconds"):
        note += (f". The measured rows account for {costs['attributed_seconds']:,.2f} of the job's "
                 f"{costs['job_cpu_seconds']:,.2f} CPU s ({costs['attributed_share']:.1%}); the rest: "
                 f"{REMAINDER_DETAIL}")
    else:
        note += ". The job's total CPU time was not measured (it ran outside this process)"
    return note + "."


def reasons_table(report: dict) -> Table:
    """Every drop reason and error kind per stage, largest first, with its share of the stage's input."""
    table = Table(title="reasons", title_justify="left")
    for col in ("stage", "reason", "kind", "count", "share of seen"):
        table.add_column(col, justify="right" if col in ("count", "share of seen") else "left")
    for s in report["stages"]:
        reasons = [(r, "dropped", n) for r, n in s["dropped"].items()] + \
                  [(k, "error", n) for k, n in s["errors"].items()]
        reasons.sort(key=lambda item: (-item[2], item[0]))
        for i, (reason, kind, n) in enumerate(reasons):
            _row(table, s["name"], reason, kind, f"{n:,}", _share(n, s["seen"]), end_section=i + 1 == len(reasons))
    return table


def input_line(inp: dict) -> str:
    line = f"input: {inp['files']:,} files, {inp['records']:,} records"
    if "pages" in inp:
        types = ", ".join(f"{n:,} {t}" for t, n in sorted(inp.get("other_record_types", {}).items(),
                                                           key=lambda kv: (-kv[1], kv[0])))
        line += f": {inp['pages']:,} pages, {inp.get('other_records', 0):,} other records"
        line += f" ({types}; not pages, so not among the dropped)" if types else ""
    return line + f", {inp['bytes']:,} bytes"


def print_summary(report: dict, console: Console | None = None) -> None:
    console = console or _console()
    run, inp, out = report["run"], report["input"], report["output"]
    overrides = " ".join(f"--set {o}" for o in run.get("overrides") or [])
    console.print(Text(f"run: {run.get('runner', '?')}, config {run.get('config', '?')} {overrides}".rstrip()
                       + f", {run.get('seconds', '?')} s wall, finished {run.get('finished', '?')}"))
    console.print(Text(input_line(inp)))
    console.print(stages_table(report))
    console.print(Text(cost_note(report), style="dim"))
    if any(s["dropped"] or s["errors"] for s in report["stages"]):
        console.print(reasons_table(report))
    pages = inp.get("pages", inp["records"])
    console.print(Text(f"output: {out['documents']:,} documents ({_share(out['documents'], pages)} of pages), "
                       f"{out['tokens']:,} tokens in {out['shards']} shards"))
    training = report.get("training")
    if training:
        last = training.get("last", {})
        console.print(Text(f"training: {training.get('log')}: step {last.get('step', '?')}, loss {last.get('loss', '?')}"))
    problems = invariant_problems(report)
    if problems:
        for problem in problems:
            console.print(Text.assemble(("accounting invariant broken: ", "bold red"), problem))
    else:
        console.print(Text("accounting invariant: holds (every page read is kept, dropped or an error)"))


def _flatten(data: object, prefix: str = "") -> dict[str, object]:
    if isinstance(data, dict):
        flat: dict[str, object] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: data}


def config_changes(a: dict, b: dict) -> list[tuple[str, object, object]]:
    """(dotted key, value in A, value in B) for every resolved-config key that differs."""
    try:
        ca = _flatten(yaml.safe_load(a.get("config_resolved") or "") or {})
        cb = _flatten(yaml.safe_load(b.get("config_resolved") or "") or {})
    except yaml.YAMLError:
        return []
    missing = "(absent)"
    return [(k, ca.get(k, missing), cb.get(k, missing)) for k in sorted(set(ca) | set(cb))
            if ca.get(k, missing) != cb.get(k, missing)]


def _diff(x: int, y: int) -> tuple[str, str]:
    if x == y:
        return "0", ""
    return f"{y - x:+,}", f"{(y - x) / x:+.1%}" if x else "new"


def compare_rows(a: dict, b: dict) -> list[tuple[str, str, int, int]]:
    """(stage, what, count in A, count in B) in pipeline order: stages of A, then stages new in B."""
    rows = [("input", "records", a["input"]["records"], b["input"]["records"]),
            ("input", "files", a["input"]["files"], b["input"]["files"])]
    stages_a = {s["name"]: s for s in a["stages"]}
    stages_b = {s["name"]: s for s in b["stages"]}
    empty = {"seen": 0, "kept": 0, "dropped": {}, "errors": {}}
    for name in list(stages_a) + [n for n in stages_b if n not in stages_a]:
        sa, sb = stages_a.get(name, empty), stages_b.get(name, empty)
        rows += [(name, "seen", sa["seen"], sb["seen"]), (name, "kept", sa["kept"], sb["kept"]),
                 (name, "dropped", sum(sa["dropped"].values()), sum(sb["dropped"].values()))]
        for reason in sorted(set(sa["dropped"]) | set(sb["dropped"])):
            rows.append((name, f"  dropped: {reason}", sa["dropped"].get(reason, 0), sb["dropped"].get(reason, 0)))
        for kind in sorted(set(sa["errors"]) | set(sb["errors"])):
            rows.append((name, f"  error: {kind}", sa["errors"].get(kind, 0), sb["errors"].get(kind, 0)))
    for what in ("documents", "tokens", "shards"):
        rows.append(("output", what, a["output"][what], b["output"][what]))
    return rows


def print_compare(a: dict, b: dict, name_a: str, name_b: str, console: Console | None = None) -> None:
    """The config keys that differ, then per stage and reason: A, B and the difference (B - A)."""
    console = console or _console()
    console.print(Text(f"A = {name_a}\nB = {name_b}"))
    changes = config_changes(a, b)
    if changes:
        cfg = Table(title="config changes", title_justify="left")
        for col in ("key", "A", "B"):
            cfg.add_column(col)
        for key, va, vb in changes:
            _row(cfg, key, str(va), str(vb))
        console.print(cfg)
    elif a["run"].get("config_sha256") == b["run"].get("config_sha256"):
        console.print("config: identical")
    table = Table(title="counts (B - A)", title_justify="left")
    for col in ("stage", "count", "A", "B", "B-A", "change"):
        table.add_column(col, justify="left" if col in ("stage", "count") else "right")
    rows = compare_rows(a, b)
    for i, (stage, what, x, y) in enumerate(rows):
        diff, change = _diff(x, y)
        last_of_stage = i + 1 == len(rows) or rows[i + 1][0] != stage
        _row(table, stage, what, f"{x:,}", f"{y:,}", diff, change,
             style="bold" if x != y else None, end_section=last_of_stage)
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
    last = pending["stages"][-1]
    if not FileSystems.exists(FileSystems.join(out_dir, "stats", f"{last}.json")):
        # Every stage's stats are written at the end of the job; building now would report zeros.
        raise UsageError(f"{out_dir}: no stats/{last}.json yet: the job is still running, or it failed")
    run = {**pending["run"], "report_built": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    code = finish_report(out_dir, pending["stages"], run, pending["inputs"])
    finish(out_dir)   # the detached run's claim on OUT ends with its report
    return code


def report_command(args) -> int:
    from tokenmill.pipelines.cli import UsageError

    if args.build:
        if len(args.dirs) != 1:
            raise UsageError("--build takes one run directory")
        return _build_detached(args.dirs[0])
    for d in args.dirs:   # FileSystems: a cluster run's directory is gs:// or s3://
        unfinished = status_line(d)   # a run still writing, or one stopped before it finished
        if unfinished:
            raise UsageError(unfinished)
        has_report = FileSystems.exists(FileSystems.join(d, "report", "report.json"))
        if not has_report and FileSystems.exists(FileSystems.join(d, "report", PENDING)):
            raise UsageError(f"{d}: started with --detach; when its job has finished: tokenmill report --build {d}")
        if not has_report:
            raise UsageError(f"{d}: no report/report.json (is it a tokenmill run's output directory?)")
    if (args.html or args.open or args.train_log) and FileSystems.get_scheme(args.dirs[0]) not in (None, "file"):
        raise UsageError("--html, --open and --train-log need a local run directory (copy the report/ folder)")
    if args.compare:
        if args.train_log:
            raise UsageError("--train-log attaches to one run; it cannot go with --compare")
        if len(args.dirs) != 2:
            raise UsageError("--compare needs exactly two run directories")
        print_compare(load_report(args.dirs[0]), load_report(args.dirs[1]), args.dirs[0], args.dirs[1])
        return 0
    if len(args.dirs) != 1:
        raise UsageError("give one run directory (or two with --compare)")
    if args.train_log:
        try:
            attach_training(args.dirs[0], args.train_log)
        except (OSError, ValueError) as err:
            raise UsageError(f"--train-log: {err}") from None
    html = (Path(args.dirs[0]) / "report" / "index.html").resolve()
    if args.html:
        print(html)
        return 0
    if args.open:
        webbrowser.open(html.as_uri())
        return 0
    print_summary(load_report(args.dirs[0]))
    return 0

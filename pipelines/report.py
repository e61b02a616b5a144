"""The run report: `report/report.json` from the stats files, the invariant check, summaries.

The report is built after the job from `stats/<stage>.json` (written by the ledger), never from
runner metrics, so it is the same on every runner. The accounting invariant (DESIGN.md section
2): the first stage sees every input record, each stage sees what the previous one kept, and
`seen == kept + dropped + errors` everywhere; a record is never silently lost.
"""

from __future__ import annotations

import json
from pathlib import Path

from apache_beam.io.filesystems import FileSystems

from tokenmill.transforms.stats import StageStats

PENDING = "pending.json"   # report/pending.json: a run started with --detach whose report is not written yet


def read_stage_stats(out_dir: str, stages: list[str]) -> list[StageStats]:
    """Stats per stage in pipeline order; a stage that saw nothing has no file and counts zero."""
    found = []
    for stage in stages:
        path = FileSystems.join(out_dir, "stats", f"{stage}.json")
        if FileSystems.exists(path):
            with FileSystems.open(path) as f:
                found.append(StageStats.from_json(f.read().decode("utf-8")))
        else:
            found.append(StageStats(stage))
    return found


def stage_entry(stats: StageStats) -> dict:
    return {
        "name": stats.stage, "seen": stats.seen, "kept": stats.kept,
        "dropped": dict(stats.dropped.most_common()), "errors": dict(stats.errors.most_common()),
        "seconds": round(stats.seconds, 3),
        "docs_per_s": round(stats.seen / stats.seconds, 1) if stats.seconds else None,
        "samples": {reason: [s.__dict__ for s in samples] for reason, samples in stats.samples.items()},
        "histograms": {n: {"edges": list(h.edges), "counts": h.counts} for n, h in stats.histograms.items()},
        "extra": dict(stats.extra),
    }


def build_report(out_dir: str, stages: list[str], run: dict, inputs: list[str]) -> dict:
    stats = read_stage_stats(out_dir, stages)
    first = stats[0] if stats else StageStats("read")
    manifest = _read_manifest(out_dir)
    return {
        "run": run,
        "input": {"patterns": inputs, "files": first.extra.get("files", 0), "records": first.seen,
                  "bytes": first.extra.get("bytes", 0)},
        "stages": [stage_entry(s) for s in stats],
        "output": {
            "documents": stats[-1].kept if stats else 0,
            "tokens": manifest.get("total_tokens", 0) if manifest else 0,
            "shards": len(manifest.get("shards", [])) if manifest else 0,
        },
    }


def invariant_problems(report: dict) -> list[str]:
    """Every way the report breaks the accounting invariant; empty when it holds."""
    problems = []
    stages = report["stages"]
    if stages and stages[0]["seen"] != report["input"]["records"]:
        problems.append(f"first stage saw {stages[0]['seen']} of {report['input']['records']} records")
    for prev, stage in zip([None] + stages, stages):
        total = stage["kept"] + sum(stage["dropped"].values()) + sum(stage["errors"].values())
        if stage["seen"] != total:
            problems.append(f"{stage['name']}: seen {stage['seen']} != kept+dropped+errors {total}")
        if prev is not None and stage["seen"] != prev["kept"]:
            problems.append(f"{stage['name']} saw {stage['seen']} but {prev['name']} kept {prev['kept']}")
    if stages and report["output"]["documents"] != stages[-1]["kept"]:
        problems.append("output.documents differs from the last stage's kept count")
    return problems


def write_report(out_dir: str, report: dict) -> tuple[str, str]:
    from tokenmill.pipelines.report_html import render_html

    json_path = FileSystems.join(out_dir, "report", "report.json")
    html_path = FileSystems.join(out_dir, "report", "index.html")
    with FileSystems.create(json_path) as f:
        f.write(json.dumps(report, indent=1, ensure_ascii=False).encode("utf-8"))
    with FileSystems.create(html_path) as f:
        f.write(render_html(report).encode("utf-8"))
    return json_path, html_path


def write_pending(out_dir: str, stages: list[str], run: dict, inputs: list[str]) -> str:
    """What `tokenmill report --build` needs to write the report of a detached run later."""
    path = FileSystems.join(out_dir, "report", PENDING)
    with FileSystems.create(path) as f:
        f.write(json.dumps({"stages": stages, "run": run, "inputs": inputs}, indent=1).encode("utf-8"))
    return path


def read_pending(out_dir: str) -> dict | None:
    path = FileSystems.join(out_dir, "report", PENDING)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))


def load_report(out_dir: str) -> dict:
    path = Path(out_dir) / "report" / "report.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _read_manifest(out_dir: str) -> dict | None:
    path = FileSystems.join(out_dir, "tokens", "manifest.json")
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))

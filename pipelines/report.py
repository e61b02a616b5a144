"""The run report: `report/report.json` from the stats files, the invariant check, summaries.

The report is built after the job from `stats/<stage>.json` (written by the ledger), never from
runner metrics, so it is the same on every runner. The accounting invariant (DESIGN.md section
2): the first stage sees every input record, each stage sees what the previous one kept, and
`seen == kept + dropped + errors` everywhere; a record is never silently lost. The output side is
counted from the files themselves (`output.documents`: rows in the docs/ Parquet footers;
`output.token_rows`: rows in the token manifest), not taken from the stats, so documents lost
between the last stage's accounting and the files break the invariant too.

Pages and records: `input.records` counts every record read; `input.pages` the records that can
carry a page (responses, conversions, text rows, and unreadable records, which may have been
pages); `input.other_records` the rest (request, metadata, warcinfo, ... by type), which never
enter the read stage. `records == pages + other_records` and the first stage sees `pages`.

Costs: each stage's `seconds` is CPU time measured inside its steps (stats.StageStats.seconds),
dedup's steps after its shuffles and the tokenizer's training included; `costs` puts them beside
the run's CPU time as the launcher measured it (getrusage, from `tokenmill run`'s start to the
job's end), with the launcher's own phases measured as rows of their own (pipelines/run_costs.py:
start-up, the runner's planning, the runner process in multi_processing mode) and worker processes'
start-up measured by each worker (transforms/beam/worker_startup.py). What no row measures (Beam's
work around the steps: its operators' set-up and per-element work, encoding between steps,
shuffles, Beam's file writers; worker processes' shutdown) is shown as the remainder, never hidden.

report.json carries everything the page shows (stage stats with samples, histograms and
categories, token shards, the resolved config, a training curve once attached), so the page can
be rebuilt from it alone: `tokenmill report DIR --train-log RUN/train_log.jsonl` does that.
"""

from __future__ import annotations

import json

import yaml
from apache_beam.io.filesystems import FileSystems

from tokenmill.pipelines.report_sources import (docs_rows, manifest_rows, read_manifest, read_train_log, token_shards,
                                                tokens_per_document)
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


def read_extra_stats(out_dir: str, name: str) -> StageStats | None:
    """stats/<name>.json of the ledger's non-stage files (output, tokenize); None when absent."""
    path = FileSystems.join(out_dir, "stats", f"{name}.json")
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        return StageStats.from_json(f.read().decode("utf-8"))


def _read_json(out_dir: str, *parts: str) -> dict | None:
    path = FileSystems.join(out_dir, *parts)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))


COST_UNIT = "CPU seconds"
COST_HOW = ("CPU time of the threads running each stage's steps and bookkeeping (time.thread_time), "
            "helper processes (the isolated extractor) and the tokenizer's training threads included; "
            "the job's total is the `tokenmill run` process's CPU time and that of its child processes "
            "(getrusage RUSAGE_SELF + RUSAGE_CHILDREN, user + system) from the process's start to the job's end, "
            "read after the runner has stopped and reaped its worker processes, so theirs counts; the launcher's "
            "start-up and planning are measured there too, and each worker process measures its own start-up")


def stage_entry(stats: StageStats) -> dict:
    return {
        "name": stats.stage, "seen": stats.seen, "kept": stats.kept,
        "dropped": dict(stats.dropped.most_common()), "errors": dict(stats.errors.most_common()),
        "seconds": round(stats.seconds, 6),   # CPU seconds (COST_HOW)
        "docs_per_s": round(stats.seen / stats.seconds, 1) if stats.seconds else None,   # per CPU second
        "samples": {reason: [s.__dict__ for s in samples] for reason, samples in stats.samples.items()},
        "histograms": {n: {"edges": list(h.edges), "counts": h.counts} for n, h in stats.histograms.items()},
        "extra": dict(stats.extra),
        "categories": {n: dict(c.most_common()) for n, c in stats.categories.items()},
    }


def input_section(first: StageStats, inputs: list[str]) -> dict:
    other = {k.split(".", 1)[1]: v for k, v in sorted(first.extra.items()) if k.startswith("other_records.")}
    return {"patterns": inputs, "files": first.extra.get("files", 0), "records": first.seen + sum(other.values()),
            "pages": first.seen, "other_records": sum(other.values()), "other_record_types": other,
            "bytes": first.extra.get("bytes", 0)}


STEP_DETAILS = {
    "tokenize": "training the tokenizer, encoding, writing shards",
    "write_docs": "making the rows of docs/ (the Parquet writer itself counts as the runner's)",
    "ledger": "building the PII scrubber once per worker; merging stats; scrubbing and writing samples, "
              "rejects and errors",
}
# The launcher's phases (run_costs.LauncherCosts): name -> (label, what it includes).
LAUNCHER_ROWS = {
    "startup": ("start-up: imports, config and graph",
                "the launcher before pipeline.run(): importing Beam and tokenmill, config, input checks, "
                "building the graph"),
    "planning": ("runner: planning the job",
                 "pipeline.run() until the first stage runs: the graph to protos (every DoFn pickled), fusion"),
    "operators": ("runner: building bundles' operators",
                  "for every bundle run in the launcher (in_memory, multi_threading): unpickling its DoFns and "
                  "building Beam's operators, before any DoFn's setup"),
    "runner": ("runner: launcher process during the stages",
               "the runner itself while its workers (child processes) ran the stages: scheduling, shuffle "
               "buffers, the data plane to and from the workers"),
}
# Cost counters that worker processes charge for themselves (transforms/beam/worker_startup.py).
WORKER_ROWS = {
    "worker_startup": ("workers: start-up before their first step",
                       "each worker process (multi_processing, a cluster) until tokenmill's first step ran there: "
                       "Python, Beam's SDK harness, unpickling the job's DoFns and importing their libraries"),
}
REMAINDER_LABEL = "not measured (the rest)"
REMAINDER_DETAIL = ("not measured by any row: Beam's work around the steps (its operators' set-up and per-element "
                    "work, encoding between steps, shuffles, Beam's file writers; in worker processes also building "
                    "bundles' operators), the worker processes' shutdown")


def cost_label(row: dict) -> str:
    """A cost row's name as shown (reports from before labels: stage name, or `name (not a stage)`)."""
    return row.get("label") or (row["name"] if row["kind"] == "stage" else f"{row['name']} (not a stage)")


def launcher_rows(launcher: dict | None) -> list[dict]:
    return [{"name": name, "label": LAUNCHER_ROWS[name][0], "seconds": round(seconds, 6), "kind": "launcher",
             "detail": LAUNCHER_ROWS[name][1]} for name, seconds in (launcher or {}).items() if name in LAUNCHER_ROWS]


def cost_section(stats: list[StageStats], tokenize: StageStats | None, run: dict) -> dict:
    """Stage costs beside the job's CPU time; `unattributed` is what no row measured."""
    job_cpu = run.get("cpu_seconds")
    rows = [{"name": s.stage, "seconds": round(s.seconds, 6), "kind": "stage"} for s in stats]
    steps = {"tokenize": tokenize.seconds} if tokenize is not None else {}
    steps.update(run.get("cost_counters") or {})
    workers = {name: steps.pop(name) for name in list(steps) if name in WORKER_ROWS}
    rows += [{"name": name, "seconds": round(seconds, 6), "kind": "step", "detail": STEP_DETAILS.get(name, "")}
             for name, seconds in steps.items()]
    rows += [{"name": name, "label": WORKER_ROWS[name][0], "seconds": round(seconds, 6), "kind": "worker",
              "detail": WORKER_ROWS[name][1]} for name, seconds in workers.items()]
    rows += launcher_rows(run.get("launcher_costs"))
    attributed = sum(r["seconds"] for r in rows)
    costs = {"unit": COST_UNIT, "how": COST_HOW, "rows": rows, "attributed_seconds": round(attributed, 6),
             "job_cpu_seconds": round(job_cpu, 3) if job_cpu is not None else None}
    if job_cpu:
        costs["unattributed_seconds"] = round(job_cpu - attributed, 6)
        costs["attributed_share"] = round(attributed / job_cpu, 4)
    return costs


def languages(output: StageStats | None) -> list[dict]:
    """Kept documents, characters and tokens per language, most documents first."""
    if output is None:
        return []
    docs = output.categories.get("lang", {})
    chars, tokens = output.categories.get("lang_chars", {}), output.categories.get("lang_tokens", {})
    total = sum(docs.values())
    return [{"lang": lang, "documents": n, "share": round(n / total, 4) if total else 0.0,
             "chars": chars.get(lang, 0), "tokens": tokens.get(lang, 0) if tokens else None}
            for lang, n in sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))]


def build_report(out_dir: str, stages: list[str], run: dict, inputs: list[str]) -> dict:
    """report.json's content: everything the page and the terminal summary show."""
    stats = read_stage_stats(out_dir, stages)
    first = stats[0] if stats else StageStats("read")
    written = read_extra_stats(out_dir, "output")
    manifest = read_manifest(out_dir)
    output = {
        "documents": docs_rows(out_dir),   # counted in docs/*.parquet, checked against the last kept count
        "tokens": manifest.get("total_tokens", 0) if manifest else 0,
        "shards": len(manifest.get("shards", [])) if manifest else 0,
        "token_rows": manifest_rows(manifest) if manifest else None,   # None: no manifest
    }
    if manifest:
        output["token_shards"] = token_shards(manifest)
        output["tokens_per_document"] = tokens_per_document(out_dir, manifest)
    output["languages"] = languages(written)
    output["domains"] = _read_json(out_dir, "stats", "domains.json")
    return {
        "run": run,
        "input": input_section(first, inputs),
        "stages": [stage_entry(s) for s in stats],
        "costs": cost_section(stats, read_extra_stats(out_dir, "tokenize"), run),
        "output": output,
        "config_resolved": _read_text(out_dir, "config.resolved.yaml"),
    }


def attach_training(out_dir: str, train_log: str) -> dict:
    """Adds a training run's loss curve to an existing report and rewrites report.json and the page."""
    report = load_report(out_dir)
    report["training"] = read_train_log(train_log)
    write_report(out_dir, report)
    return report


def invariant_problems(report: dict) -> list[str]:
    """Every way the report breaks the accounting invariant; empty when it holds."""
    problems = []
    stages, inp = report["stages"], report["input"]
    pages = inp.get("pages", inp["records"])   # reports from before pages were told apart: records
    if "pages" in inp and inp["records"] != inp["pages"] + inp.get("other_records", 0):
        problems.append(f"{inp['records']} records read but {inp['pages']} pages + "
                        f"{inp.get('other_records', 0)} other records")
    if stages and stages[0]["seen"] != pages:
        problems.append(f"first stage saw {stages[0]['seen']} of {pages} pages")
    for prev, stage in zip([None] + stages, stages):
        total = stage["kept"] + sum(stage["dropped"].values()) + sum(stage["errors"].values())
        if stage["seen"] != total:
            problems.append(f"{stage['name']}: seen {stage['seen']} != kept+dropped+errors {total}")
        if prev is not None and stage["seen"] != prev["kept"]:
            problems.append(f"{stage['name']} saw {stage['seen']} but {prev['name']} kept {prev['kept']}")
    if stages:
        problems += _output_problems(report["output"], stages[-1], report.get("config_resolved", ""))
    return problems


def _output_problems(output: dict, last: dict, config_resolved: str) -> list[str]:
    """The files against the last stage's kept count: docs/ rows, and token rows when tokenized."""
    problems = []
    if output["documents"] != last["kept"]:
        problems.append(f"docs/*.parquet has {output['documents']} rows but {last['name']} kept {last['kept']}")
    if "token_rows" not in output:   # a report written before token rows were counted
        return problems
    token_rows = output["token_rows"]
    if token_rows is not None and token_rows != last["kept"]:
        problems.append(f"tokens/manifest.json lists {token_rows} rows but {last['name']} kept {last['kept']}")
    elif token_rows is None and last["kept"] and _tokenize_enabled(config_resolved):
        problems.append(f"tokenize is enabled and {last['name']} kept {last['kept']} documents, "
                        "but there is no tokens/manifest.json")
    return problems


def _tokenize_enabled(config_resolved: str) -> bool:
    """Whether the run's resolved config (config.resolved.yaml's text) had the tokenize stage on."""
    try:
        config = yaml.safe_load(config_resolved) if config_resolved else None
    except yaml.YAMLError:   # not tokenmill's own YAML (an edited report): no expectation
        return False
    tokenize = config.get("tokenize") if isinstance(config, dict) else None
    return bool(isinstance(tokenize, dict) and tokenize.get("enabled"))


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
    with FileSystems.open(FileSystems.join(out_dir, "report", "report.json")) as f:
        return json.loads(f.read().decode("utf-8"))


def _read_text(out_dir: str, name: str) -> str:
    path = FileSystems.join(out_dir, name)
    if not FileSystems.exists(path):
        return ""
    with FileSystems.open(path) as f:
        return f.read().decode("utf-8")

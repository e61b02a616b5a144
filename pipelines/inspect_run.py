"""`tokenmill inspect OUT`: one document's path through a run's stages, or samples by drop reason.

"Why is this URL not in my data?" is answered from the run's own outputs, never by re-running
anything: `docs/` (kept documents with their signals), `rejected/<stage>/` (every dropped document
with its reason, detail and signals, when `output.keep_rejected` was on), `errors/` (the dead
letter) and `stats/` (the report's per-reason samples, the only drops a run without rejects
keeps). Everything is read through Beam's FileSystems, so OUT may be local, gs:// or s3://; only
the columns needed to find a document are read until it is found (`url`/`id`, or `reason`).
FileSystems gets pipeline options even when no flag is given: without them Beam's S3 filesystem
refuses to start ("Must provide one of client or options"), so s3:// never worked before. The S3
flags are Beam's own (the same names `tokenmill run` passes on); without them boto3's usual
environment (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, ~/.aws) applies.

Text is shown scrubbed: rejected texts and samples were scrubbed by the run's ledger, and docs/
by its PII stage, but only when the run had PII scrubbing on; so every text, URL and detail shown
here passes through the PII scrubber (pattern entities, tags) first. PII is never printed.
"""

from __future__ import annotations

import argparse
import heapq
import json

from tokenmill.transforms.document import stable_hash

DUPLICATE_REASONS = ("exact_duplicate", "url_duplicate", "near_duplicate")
TEXT_CHARS = 600
LOOKUP_COLUMNS = ("id", "url")


def add_inspect_parser(sub) -> None:
    p = sub.add_parser("inspect", help="why a document is (not) in a run's output; samples by drop reason",
                       description=("Show one document's path through a run's stages (where it was dropped and "
                                    "why, its signals, its duplicate cluster and survivor), found by --url or "
                                    "--id; or N documents dropped for --reason R. Reads OUT's docs/, rejected/, "
                                    "errors/ and stats/ (local, gs:// or s3://). Text is shown scrubbed."))
    p.add_argument("dir", metavar="OUT", help="a run's output directory")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--url", help="the document's URL, as crawled")
    which.add_argument("--id", help="the document's id (docs/, rejected/ and errors/ carry it)")
    which.add_argument("--reason", help="a drop reason (e.g. lang_not_allowed) or error kind (e.g. timeout)")
    p.add_argument("-n", type=int, default=5, metavar="N", help="how many documents --reason shows (default 5)")
    s3 = p.add_argument_group(
        "s3:// storage", "Beam's S3 options, as 'tokenmill run' takes them. Without them boto3's environment "
        "applies: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (or ~/.aws). Reading "
        "s3:// needs boto3: pip install 'tokenmill[s3]'. gs:// uses Google's default credentials.")
    for flag, meta, text in S3_FLAGS:
        s3.add_argument(f"--{flag}", metavar=meta, help=text)


# Beam's S3Options names (apache_beam.options.pipeline_options), so one set of flags serves run and inspect.
S3_FLAGS = (
    ("s3_endpoint_url", "URL", "an S3-compatible endpoint, e.g. http://127.0.0.1:8333 (default: AWS)"),
    ("s3_region_name", "REGION", "the bucket's region"),
    ("s3_access_key_id", "KEY", "the access key id (an environment variable keeps it out of `ps`)"),
    ("s3_secret_access_key", "SECRET", "the secret key (an environment variable keeps it out of `ps`)"),
    ("s3_session_token", "TOKEN", "a temporary session token"),
)
# What each remote scheme imports, and the install that brings it (Beam registers the S3 filesystem
# even without boto3 and then fails with a bare AssertionError).
SCHEME_NEEDS = {"s3": ("boto3", "pip install 'tokenmill[s3]'"),
                "gs": ("google.cloud.storage", "pip install 'apache-beam[gcp]==2.62.0'")}


def storage_options(args: argparse.Namespace):
    """Beam PipelineOptions carrying the S3 flags given (none given: boto3's own environment)."""
    from apache_beam.options.pipeline_options import PipelineOptions
    return PipelineOptions([f"--{flag}={getattr(args, flag)}" for flag, _, _ in S3_FLAGS
                            if getattr(args, flag, None) is not None])


def check_scheme(out_dir: str) -> None:
    """A clear line when OUT's scheme needs a library that is not installed."""
    import importlib.util

    from tokenmill.pipelines.cli import UsageError
    scheme = out_dir.split("://", 1)[0] if "://" in out_dir else ""
    if scheme in SCHEME_NEEDS:
        module, install = SCHEME_NEEDS[scheme]
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:   # a missing parent package (google.cloud)
            found = False
        if not found:
            raise UsageError(f"reading {scheme}:// needs {module}: {install}")


class RunOutputs:
    """Read access to one run's output directory through Beam's FileSystems."""

    def __init__(self, out_dir: str, options=None):
        from apache_beam.io.filesystems import FileSystems
        from apache_beam.options.pipeline_options import PipelineOptions
        FileSystems.set_options(options or PipelineOptions([]))
        self.fs, self.out_dir = FileSystems, out_dir.rstrip("/")
        self.report = self._json("report", "report.json")
        self.stage_names = [s["name"] for s in self.report["stages"]] if self.report else self._stats_stages()
        self.keeps_rejected = self._keeps_rejected()

    def _keeps_rejected(self) -> bool:
        """output.keep_rejected of the run's resolved config (a run that dropped nothing has no rejected/)."""
        import yaml
        text = (self.report or {}).get("config_resolved") or self._text("config.resolved.yaml")
        try:
            config = yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            config = None
        if isinstance(config, dict) and isinstance(config.get("output"), dict):
            return bool(config["output"].get("keep_rejected"))
        return self._has("rejected")

    def _text(self, *parts: str) -> str:
        if not self._has(*parts):
            return ""
        with self.fs.open(self._path(*parts)) as f:
            return f.read().decode("utf-8")

    def _path(self, *parts: str) -> str:
        return self.fs.join(self.out_dir, *parts)

    def _has(self, *parts: str) -> bool:
        return self.fs.exists(self._path(*parts))

    def _json(self, *parts: str) -> dict | None:
        if not self._has(*parts):
            return None
        with self.fs.open(self._path(*parts)) as f:
            return json.loads(f.read().decode("utf-8"))

    def _files(self, *pattern: str) -> list[str]:
        return sorted(m.path for m in self.fs.match([self._path(*pattern)])[0].metadata_list)

    def _stats_stages(self) -> list[str]:
        names = {p.rsplit("/", 1)[-1][:-5] for p in self._files("stats", "*.json")}
        order = ["read", "extract", "url", "language", "quality", "exact_dedup", "near_dedup", "toxicity", "pii"]
        return [n for n in order if n in names]

    def stage_stats(self, stage: str) -> dict:
        return self._json("stats", f"{stage}.json") or {}

    def parquet_rows(self, folder: tuple[str, ...], column: str, wanted) -> list[dict]:
        """Full rows of folder/*.parquet whose `column` satisfies `wanted` (reads that column first)."""
        import pyarrow.parquet as pq

        found = []
        for path in self._files(*folder, "*.parquet"):
            with self.fs.open(path) as f:
                pf = pq.ParquetFile(f)
                for group in range(pf.num_row_groups):
                    values = pf.read_row_group(group, columns=[column]).column(0).to_pylist()
                    hits = [i for i, v in enumerate(values) if wanted(v)]
                    if hits:
                        table = pf.read_row_group(group)
                        found += [table.slice(i, 1).to_pylist()[0] for i in hits]
        return found

    def docs(self, column: str, wanted) -> list[dict]:
        return self.parquet_rows(("docs",), column, wanted)

    def rejected(self, column: str, wanted) -> list[dict]:
        rows = []
        if self.keeps_rejected:
            for stage in self.stage_names:
                rows += self.parquet_rows(("rejected", stage), column, wanted)
        return rows

    def errors(self, key: str, wanted) -> list[dict]:
        rows = []
        for path in self._files("errors", "*.jsonl"):
            with self.fs.open(path) as f:
                for line in f.read().decode("utf-8").splitlines():
                    if line.strip():
                        row = json.loads(line)
                        if wanted(row.get(key)):
                            rows.append(row)
        return rows

    def samples(self, key: str, wanted) -> list[dict]:
        """The report's sampled drops (stats/<stage>.json) whose `key` satisfies `wanted`."""
        rows = []
        for stage in self.stage_names:
            for reason, items in self.stage_stats(stage).get("samples", {}).items():
                if reason.startswith("top_"):
                    continue   # top_kept_by_*/top_dropped_by_* repeat documents under a signal, not a reason
                rows += [{**s, "stage": stage, "reason": reason} for s in items
                         if wanted(reason if key == "reason" else s.get(key))]
        return rows


def _url_matcher(url: str):
    """Matches the URL as given, and the same URL with or without a trailing slash."""
    wanted = {url, url.rstrip("/"), url.rstrip("/") + "/"}
    return lambda value: value in wanted


class Printer:
    """Terminal output: rich with markup and emoji codes off; every user string scrubbed first."""

    def __init__(self):
        from rich.console import Console

        from tokenmill.transforms.pii import Scrubber
        from tokenmill.transforms.pii_config import PIIConfig
        self.console = Console(highlight=False, markup=False, emoji=False)
        self._scrubber = Scrubber(PIIConfig())

    def scrub(self, text: object) -> str:
        return self._scrubber(str(text)) if text else ""

    def line(self, text: str = "", style: str | None = None) -> None:
        from rich.text import Text
        self.console.print(Text(text, style=style or ""))

    def text(self, text: str) -> None:
        body = " ".join(self.scrub(text)[:TEXT_CHARS].split())
        more = " ..." if len(text) > TEXT_CHARS else ""
        self.line(f"  text (scrubbed, first {TEXT_CHARS} characters): {body}{more}" if body else "  text: (none)")


def _signals(row: dict) -> str:
    parts = []
    if row.get("lang"):
        score = row.get("lang_score")
        parts.append(f"lang {row['lang']}" + (f" ({score:.2f})" if isinstance(score, float) else ""))
    if isinstance(row.get("toxicity"), float):
        parts.append(f"toxicity {row['toxicity']:.3f}")
    if row.get("pii_counts"):
        parts.append("pii " + ", ".join(f"{k} {v}" for k, v in sorted(dict(row["pii_counts"]).items())))
    signals = dict(row.get("signals") or {})
    parts += [f"{k} {v:.4g}" for k, v in sorted(signals.items())]
    return "; ".join(parts) or "(none recorded)"


def _path_line(stages: list[str], stage: str | None, verdict: str) -> str:
    """read ok > extract ok > language DROPPED (...) ; later stages not reached."""
    if stage is None or stage not in stages:
        return " > ".join(f"{s} ok" for s in stages) + f" > {verdict}"
    at = stages.index(stage)
    line = " > ".join([f"{s} ok" for s in stages[:at]] + [f"{stage} {verdict}"])
    rest = stages[at + 1:]
    return line + (f"; not reached: {', '.join(rest)}" if rest else "")


def _cluster_members(run: RunOutputs, survivor_id: str) -> list[dict]:
    return [r for r in run.rejected("detail", lambda v: v == survivor_id) if r["reason"] in DUPLICATE_REASONS]


def _show_kept(run: RunOutputs, out: Printer, row: dict) -> None:
    out.line(f"kept: written to docs/ ({out.scrub(row.get('source'))} at offset {row.get('offset')})", "bold green")
    out.line("  path: " + _path_line(run.stage_names, None, "written to docs/"))
    out.line(f"  signals: {_signals(row)}")
    size = row.get("cluster_size") or 1
    if size > 1:
        members = _cluster_members(run, row["id"]) if run.keeps_rejected else []
        out.line(f"  duplicate cluster: the survivor of {size} input documents (cluster {row.get('cluster_id')})")
        for m in members:
            out.line(f"    {m['stage']}: {m['reason']}: {m['id']} {out.scrub(m.get('url'))}")
        if not run.keeps_rejected:
            out.line("    (the other members are not listed: this run did not keep rejected documents)")
    else:
        out.line("  duplicate cluster: none (no other document had the same or nearly the same text)")
    out.text(row.get("text") or "")


def _show_survivor(run: RunOutputs, out: Printer, survivor_id: str) -> None:
    kept = run.docs("id", lambda v: v == survivor_id)
    if kept:
        out.line(f"  survivor: {survivor_id} {out.scrub(kept[0].get('url'))}, kept in docs/ "
                 f"(cluster of {kept[0].get('cluster_size')})")
        return
    later = run.rejected("id", lambda v: v == survivor_id)
    if later:
        out.line(f"  survivor: {survivor_id} {out.scrub(later[0].get('url'))}, itself dropped later at "
                 f"{later[0]['stage']}: {later[0]['reason']}")
    else:
        out.line(f"  survivor: {survivor_id} (not in docs/ or rejected/)")


def _show_dropped(run: RunOutputs, out: Printer, row: dict, sampled: bool = False) -> None:
    where = " (one of the report's samples: this run did not keep rejected documents)" if sampled else ""
    out.line(f"dropped at {row['stage']}: {row['reason']}{where}", "bold red")
    out.line("  path: " + _path_line(run.stage_names, row["stage"], f"DROPPED ({row['reason']})"))
    if row.get("detail"):
        out.line(f"  detail: {out.scrub(row['detail'])}")
    if not sampled:
        out.line(f"  signals when dropped: {_signals(row)}")
    if row["reason"] in DUPLICATE_REASONS and row.get("detail"):
        _show_survivor(run, out, row["detail"])
    out.text(row.get("text") or "")


def _show_error(run: RunOutputs, out: Printer, row: dict) -> None:
    out.line(f"error at {row['stage']}: {row['kind']}", "bold yellow")
    out.line("  path: " + _path_line(run.stage_names, row["stage"], f"ERROR ({row['kind']})"))
    out.line(f"  detail: {out.scrub(row.get('detail'))}")
    out.line(f"  where: {out.scrub(row.get('source'))} at offset {row.get('offset')} (errors/)")


def _what_is_left(run: RunOutputs) -> str:
    if run.keeps_rejected:
        return ""
    return ("This run did not keep rejected documents (output.keep_rejected: false). What can still be "
            "answered: whether a document was kept (docs/) or failed (errors/), the drops the report sampled "
            "(stats/), and the counts per stage and reason (tokenmill report). Run with "
            "--set output.keep_rejected=true to find every dropped document.")


def inspect_document(run: RunOutputs, out: Printer, key: str, value: str) -> int:
    """Everything the run's outputs say about the documents with this url or id; 1 when none."""
    wanted = _url_matcher(value) if key == "url" else (lambda v: v == value)
    kept, dropped, errors = run.docs(key, wanted), run.rejected(key, wanted), run.errors(key, wanted)
    sampled = [] if run.keeps_rejected else run.samples(key, wanted)
    found = len(kept) + len(dropped) + len(errors) + len(sampled)
    out.line(f"{key} {out.scrub(value)}: {found} document{'s' if found != 1 else ''} in {run.out_dir}")
    for row in kept:
        out.line(f"\nid {row['id']}  url {out.scrub(row.get('url'))}")
        _show_kept(run, out, row)
    for row in dropped + sampled:
        out.line(f"\nid {row['id']}  url {out.scrub(row.get('url'))}")
        _show_dropped(run, out, row, sampled=row in sampled)
    for row in errors:
        out.line(f"\nid {row.get('id') or '(none)'}  url {out.scrub(row.get('url'))}")
        _show_error(run, out, row)
    if not found:
        out.line("Not found in docs/, rejected/ or errors/: it was not among the pages this run read (not in "
                 "the input, or a record that is no page, such as a request or metadata record, which the "
                 "report counts apart).")
    left = _what_is_left(run)
    if left and not found:
        out.line(left)
    return 0 if found else 1


def inspect_reason(run: RunOutputs, out: Printer, reason: str, n: int) -> int:
    """N documents dropped for `reason` (or failed with that error kind), a stable sample."""
    def pick(rows: list[dict]) -> list[dict]:   # the same N on every call: smallest stable hash of the id
        return heapq.nsmallest(n, rows, key=lambda r: (stable_hash(str(r.get("id"))), str(r.get("id"))))

    counts = {s: run.stage_stats(s).get("dropped", {}).get(reason, 0) for s in run.stage_names}
    errors = {s: run.stage_stats(s).get("errors", {}).get(reason, 0) for s in run.stage_names}
    total = sum(counts.values()) + sum(errors.values())
    if not total:
        known = sorted({r for s in run.stage_names for r in (*run.stage_stats(s).get("dropped", {}),
                                                              *run.stage_stats(s).get("errors", {}))})
        out.line(f"no document was dropped or failed for '{reason}' in this run; its reasons: {', '.join(known)}")
        return 1
    where = ", ".join(f"{s} {c:,}" for s, c in [*counts.items(), *errors.items()] if c)
    if sum(errors.values()):
        rows = pick(run.errors("kind", lambda v: v == reason))
        out.line(f"{reason}: {total:,} documents failed ({where}); {len(rows)} shown")
        for row in rows:
            out.line(f"\nid {row.get('id') or '(none)'}  url {out.scrub(row.get('url'))}")
            _show_error(run, out, row)
        return 0
    sampled = not run.keeps_rejected
    rows = pick(run.samples("reason", lambda v: v == reason) if sampled else
                run.rejected("reason", lambda v: v == reason))
    out.line(f"{reason}: {total:,} documents dropped ({where}); {len(rows)} shown")
    if sampled:
        out.line(_what_is_left(run))
    for row in rows:
        out.line(f"\nid {row['id']}  url {out.scrub(row.get('url'))}")
        _show_dropped(run, out, row, sampled=sampled)
    return 0


def inspect_command(args: argparse.Namespace) -> int:
    from apache_beam.io.filesystem import BeamIOError

    from tokenmill.pipelines.cli import UsageError

    if args.n < 1:
        raise UsageError("-n must be at least 1")
    check_scheme(args.dir)
    try:
        run = RunOutputs(args.dir, storage_options(args))
        if not run.stage_names:
            raise UsageError(f"{args.dir}: no report/report.json or stats/ (is it a tokenmill run's output "
                             "directory?)")
        out = Printer()
        if args.reason:
            return inspect_reason(run, out, args.reason, args.n)
        return inspect_document(run, out, "url" if args.url else "id", args.url or args.id)
    except BeamIOError as err:   # an unreachable endpoint, bad credentials, no such bucket: one line
        details = getattr(err, "exception_details", None) or {}
        first = next(iter(details.items()), None)
        raise UsageError(f"cannot read {first[0]}: {first[1]}" if first else f"cannot read {args.dir}: {err}") \
            from None

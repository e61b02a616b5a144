"""The ledger: everything a run writes besides the kept documents.

While the graph is built, every stage registers its side outputs here (stats, dead-letter
errors, full rejects); `write()` then adds one sub-graph that merges the stats per stage into
`stats/<stage>.json`, writes `errors/part-*.jsonl` and `rejected/<stage>/part-*.parquet`. All text
leaving this way (samples, rejects, error details) first passes through the PII scrubber, since
it may come from before the PII stage (DESIGN.md section 2).

Besides the stages' stats it writes `stats/output.json` (the written documents by language, and
tokens by language once tokenize has run), `stats/tokenize.json` (the tokenize step's cost) and
`stats/domains.json`: every stage counts its drops and errors per URL host in each bundle, the
written documents are counted per host too, and a keyed combine sums them per host (a dump has
millions of hosts: no single object holds them all) before the top hosts by kept and by dropped
pages are kept.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
from collections import Counter
from typing import Callable, Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from tokenmill.transforms.beam.stage import DROPPED, ERRORS, STATS, ErrorRow, Rejected, cpu_clock, in_global_window
from tokenmill.transforms.beam.worker_startup import COST_NAMESPACE, charge_startup
from tokenmill.transforms.document import Document
from tokenmill.transforms.schemas import REJECTED_SCHEMA, rejected_row
from tokenmill.transforms.stats import StageStats

Scrub = Callable[[str], str]
OUTPUT, TOKENIZE = "output", "tokenize"   # stats/output.json and stats/tokenize.json (no stages: no accounting)
TOP_HOSTS = 25


class _CountOutput(beam.DoFn):
    """Per bundle: the documents that will be written, by language and by host (passes them on)."""

    def start_bundle(self) -> None:
        self._stats = StageStats(OUTPUT)

    def process(self, doc: Document) -> Iterable[Document]:
        started = cpu_clock()
        self._stats.seen += 1
        self._stats.kept += 1
        self._stats.count_category("lang", doc.lang or "(none)")
        self._stats.categories.setdefault("lang_chars", Counter())[doc.lang or "(none)"] += len(doc.text)
        self._stats.count_domain(doc.url, 0)
        self._stats.seconds += cpu_clock() - started
        yield doc

    def finish_bundle(self):
        if self._stats.seen:
            yield beam.pvalue.TaggedOutput(STATS, in_global_window(self._stats))


class _SumCounts(beam.CombineFn):
    """Element-wise sum of [kept, dropped, errors] lists."""

    def create_accumulator(self):
        return [0, 0, 0]

    def add_input(self, acc, counts):
        return [a + b for a, b in zip(acc, counts)]

    def merge_accumulators(self, accs):
        return [sum(col) for col in zip(*accs)] if accs else [0, 0, 0]

    def extract_output(self, acc):
        return acc


class _TopHosts(beam.CombineFn):
    """(host, [kept, dropped, errors]) per distinct host -> the top n hosts by kept and by dropped
    pages, ties broken by host name so that every runner gives the same list."""

    def __init__(self, n: int):
        self._n = n

    def create_accumulator(self):
        return {"hosts": 0, "kept": [], "dropped": []}

    def _prune(self, items: list) -> list:
        return heapq.nsmallest(self._n, items, key=lambda item: (-item[0], item[1]))

    def add_input(self, acc, item):
        host, counts = item
        acc["hosts"] += 1
        for i, key in enumerate(("kept", "dropped")):
            if counts[i]:
                acc[key].append((counts[i], host, list(counts)))
                if len(acc[key]) >= 2 * self._n:
                    acc[key] = self._prune(acc[key])
        return acc

    def merge_accumulators(self, accs):
        accs = list(accs)
        return {"hosts": sum(a["hosts"] for a in accs),
                "kept": self._prune([x for a in accs for x in a["kept"]]),
                "dropped": self._prune([x for a in accs for x in a["dropped"]])}

    def extract_output(self, acc):
        def rows(items):
            return [{"host": host, "kept": c[0], "dropped": c[1], "errors": c[2]} for _, host, c in self._prune(items)]
        return {"hosts": acc["hosts"], "top_kept": rows(acc["kept"]), "top_dropped": rows(acc["dropped"])}


class _MergeStats(beam.CombineFn):
    def __init__(self, samples_per_reason: int):
        self._k = samples_per_reason

    def create_accumulator(self):
        return None

    def add_input(self, acc, stats: StageStats):
        return self.merge_accumulators([acc, stats])

    def merge_accumulators(self, accs):
        started = cpu_clock()
        merged = self._merge(accs)
        charge("ledger", started)
        return merged

    def _merge(self, accs):
        merged = None
        for acc in accs:
            if acc is None:
                continue
            if merged is None:
                merged = StageStats(acc.stage)
            merged.merge(acc, self._k)
        return merged

    def extract_output(self, acc):
        return acc


class _Holder:
    """A weak-referenceable box: what `Shared` keeps may be a plain function (the identity scrubber)."""

    def __init__(self, value):
        self.value = value


class _SharedScrubber:
    """The scrubber factory, built once per worker process and shared by the ledger's DoFns
    (DESIGN.md section 4.5): a Presidio analyzer takes seconds of CPU to build, and a runner
    creates each DoFn anew for every stage it runs."""

    def __init__(self, make_scrubber: Callable[[], Scrub]):
        from apache_beam.utils.shared import Shared
        self._make, self._handle = make_scrubber, Shared()

    def __call__(self) -> _Holder:
        return self._handle.acquire(lambda: _Holder(self._make()))


def charge(name: str, started: float, extra: float = 0.0) -> None:
    """Adds the CPU time since `started` (cpu_clock), plus `extra` seconds, to the counter
    `tokenmill.cost/<name>_cpu_us`. These writers run after the stats files are merged, so their
    cost travels as a Beam metric: the report shows it where the runner returns metrics
    (DirectRunner, portable runners)."""
    Metrics.counter(COST_NAMESPACE, f"{name}_cpu_us").inc(int((cpu_clock() - started + extra) * 1e6))
    charge_startup()   # once per worker process (worker_startup.py)


class _Scrubbing(beam.DoFn):
    """Base for DoFns that scrub text on its way out; the scrubber is built once per worker.
    Their CPU time, building the scrubber included, is charged to the `ledger` cost counter."""

    def __init__(self, make_scrubber: _SharedScrubber):
        self._make_scrubber = make_scrubber

    def setup(self) -> None:
        started = cpu_clock()
        self._holder = self._make_scrubber()   # held while this DoFn lives, so Shared keeps it
        self._scrub = self._holder.value
        # Charged inside the next bundle: a runner records metrics per bundle, not during setup.
        self._setup_seconds = cpu_clock() - started

    def process(self, element) -> Iterable:
        started = cpu_clock()
        outputs = list(self.write(element))
        charge("ledger", started, self._setup_seconds)
        self._setup_seconds = 0.0
        return outputs

    def finish_bundle(self) -> None:
        # A writer whose bundle had no element (no errors, no rejects of a stage) still built the
        # shared scrubber when it was the first to ask for it: seconds of Presidio and spaCy
        # loading that used to go uncounted.
        if self._setup_seconds:
            charge("ledger", cpu_clock(), self._setup_seconds)
            self._setup_seconds = 0.0

    def write(self, element) -> Iterable:
        raise NotImplementedError


class _WriteStageStats(_Scrubbing):
    def __init__(self, make_scrubber: _SharedScrubber, directory: str):
        super().__init__(make_scrubber)
        self._directory = directory

    def write(self, stats: StageStats) -> Iterable[str]:
        stats = dataclasses.replace(stats, samples={
            reason: [dataclasses.replace(s, text=self._scrub(s.text), url=self._scrub(s.url),
                                         detail=self._scrub(s.detail)) for s in samples]
            for reason, samples in stats.samples.items()})
        path = FileSystems.join(self._directory, f"{stats.stage}.json")
        with FileSystems.create(path) as out:
            out.write(stats.to_json().encode("utf-8"))
        yield path


class _WriteHosts(_Scrubbing):
    """The top hosts to `stats/domains.json`, host names scrubbed (an IP address is personal data)."""

    def __init__(self, make_scrubber: _SharedScrubber, path: str):
        super().__init__(make_scrubber)
        self._path = path

    def write(self, top: dict) -> Iterable[str]:
        for key in ("top_kept", "top_dropped"):
            top[key] = [{**row, "host": self._scrub(row["host"])} for row in top[key]]
        with FileSystems.create(self._path) as out:
            out.write(json.dumps(top, ensure_ascii=False, indent=1).encode("utf-8"))
        yield self._path


class _ErrorLine(_Scrubbing):
    def write(self, row: ErrorRow) -> Iterable[str]:
        fields = dataclasses.asdict(row)
        fields["detail"] = self._scrub(row.detail)
        fields["url"] = self._scrub(row.url)
        yield json.dumps(fields, ensure_ascii=False)


class _RejectedRow(_Scrubbing):
    def write(self, rejected: Rejected) -> Iterable[dict]:
        yield rejected_row(rejected.doc, rejected.stage, rejected.reason, rejected.detail, self._scrub)


class Ledger:
    """Collects each stage's side outputs while the graph is built; `write()` adds their writers."""

    def __init__(self, out_dir: str, make_scrubber: Callable[[], Scrub], samples_per_reason: int = 5,
                 keep_rejected: bool = False):
        self.out_dir, self.samples_per_reason, self.keep_rejected = out_dir, samples_per_reason, keep_rejected
        self._make_scrubber = _SharedScrubber(make_scrubber)
        self._stats: list = []
        self._errors: list = []
        self._rejected: dict[str, object] = {}
        self.stages: list[str] = []

    def register(self, stage: str, results) -> None:
        """Called by ApplyFilter/RecordOutcomes with their tagged outputs."""
        if stage not in self.stages:
            self.stages.append(stage)
        self._stats.append(results[STATS])
        self._errors.append(results[ERRORS])
        if self.keep_rejected:
            self._rejected[stage] = results[DROPPED]

    def add_stats(self, stats) -> None:
        """Extra StageStats from outside a stage wrapper (e.g. file and byte counts from the reader)."""
        self._stats.append(stats)

    def count_output(self, docs):
        """PCollection[Document] (what will be written) -> the same; counted into stats/output.json."""
        counted = docs | "CountOutput" >> beam.ParDo(_CountOutput()).with_outputs(STATS, main="docs")
        self._stats.append(counted[STATS])
        return counted.docs

    def write(self, pipeline: beam.Pipeline) -> None:
        join = FileSystems.join
        stats = tuple(self._stats) | "FlattenStats" >> beam.Flatten(pipeline=pipeline)
        # StageStats -> (host, [kept, dropped, errors]) per bundle -> summed per host -> the top hosts
        (stats
         | "HostCounts" >> beam.FlatMap(lambda s: s.domains.items())
         | "SumByHost" >> beam.CombinePerKey(_SumCounts())
         | "TopHosts" >> beam.CombineGlobally(_TopHosts(TOP_HOSTS))
         | "WriteHosts" >> beam.ParDo(_WriteHosts(self._make_scrubber, join(self.out_dir, "stats", "domains.json"))))
        (stats
         | "KeyStatsByStage" >> beam.Map(lambda s: (s.stage, s))
         | "MergeStats" >> beam.CombinePerKey(_MergeStats(self.samples_per_reason))
         | "DropStageKey" >> beam.Values()
         | "WriteStats" >> beam.ParDo(_WriteStageStats(self._make_scrubber, join(self.out_dir, "stats"))))
        (tuple(self._errors) | "FlattenErrors" >> beam.Flatten(pipeline=pipeline)
         | "ErrorsToJson" >> beam.ParDo(_ErrorLine(self._make_scrubber))
         | "WriteErrors" >> beam.io.WriteToText(join(self.out_dir, "errors", "part"), file_name_suffix=".jsonl"))
        for stage, rejected in self._rejected.items():
            (rejected | f"RejectedRows[{stage}]" >> beam.ParDo(_RejectedRow(self._make_scrubber))
             | f"WriteRejected[{stage}]" >> beam.io.WriteToParquet(
                 join(self.out_dir, "rejected", stage, "part"), REJECTED_SCHEMA,
                 codec="zstd", file_name_suffix=".parquet"))

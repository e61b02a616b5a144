"""The ledger: everything a run writes besides the kept documents.

While the graph is built, every stage registers its side outputs here (stats, dead-letter
errors, full rejects); `write()` then adds one sub-graph that merges the stats per stage into
`stats/<stage>.json`, writes `errors/part-*.jsonl` and `rejected/<stage>/part-*.parquet`. All text
leaving this way (samples, rejects, error details) first passes through the PII scrubber, since
it may come from before the PII stage (DESIGN.md section 2).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Callable, Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from tokenmill.transforms.beam.stage import DROPPED, ERRORS, STATS, ErrorRow, Rejected
from tokenmill.transforms.schemas import REJECTED_SCHEMA
from tokenmill.transforms.stats import StageStats

Scrub = Callable[[str], str]


class _MergeStats(beam.CombineFn):
    def __init__(self, samples_per_reason: int):
        self._k = samples_per_reason

    def create_accumulator(self):
        return None

    def add_input(self, acc, stats: StageStats):
        return self.merge_accumulators([acc, stats])

    def merge_accumulators(self, accs):
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


class _Scrubbing(beam.DoFn):
    """Base for DoFns that scrub text on its way out; the scrubber is built once per worker."""

    def __init__(self, make_scrubber: Callable[[], Scrub]):
        self._make_scrubber = make_scrubber

    def setup(self) -> None:
        self._scrub = self._make_scrubber()


class _WriteStageStats(_Scrubbing):
    def __init__(self, make_scrubber: Callable[[], Scrub], directory: str):
        super().__init__(make_scrubber)
        self._directory = directory

    def process(self, stats: StageStats) -> Iterable[str]:
        stats = dataclasses.replace(stats, samples={
            reason: [dataclasses.replace(s, text=self._scrub(s.text), url=self._scrub(s.url),
                                         detail=self._scrub(s.detail)) for s in samples]
            for reason, samples in stats.samples.items()})
        path = FileSystems.join(self._directory, f"{stats.stage}.json")
        with FileSystems.create(path) as out:
            out.write(stats.to_json().encode("utf-8"))
        yield path


class _ErrorLine(_Scrubbing):
    def process(self, row: ErrorRow) -> Iterable[str]:
        fields = dataclasses.asdict(row)
        fields["detail"] = self._scrub(row.detail)
        fields["url"] = self._scrub(row.url)
        yield json.dumps(fields, ensure_ascii=False)


class _RejectedRow(_Scrubbing):
    def process(self, rejected: Rejected) -> Iterable[dict]:
        yield {"id": rejected.doc.id, "url": self._scrub(rejected.doc.url), "stage": rejected.stage,
               "reason": rejected.reason, "text": self._scrub(rejected.doc.text),
               "detail": self._scrub(rejected.detail)}


class Ledger:
    """Collects each stage's side outputs while the graph is built; `write()` adds their writers."""

    def __init__(self, out_dir: str, make_scrubber: Callable[[], Scrub], samples_per_reason: int = 5,
                 keep_rejected: bool = False):
        self.out_dir, self.samples_per_reason, self.keep_rejected = out_dir, samples_per_reason, keep_rejected
        self._make_scrubber = make_scrubber
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

    def write(self, pipeline: beam.Pipeline) -> None:
        join = FileSystems.join
        (tuple(self._stats) | "FlattenStats" >> beam.Flatten(pipeline=pipeline)
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

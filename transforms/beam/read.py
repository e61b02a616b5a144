"""ReadInputs: from a few user patterns to a PCollection of records, one file per work item.

Only the patterns the user typed enter the job graph. Globs and Common Crawl listings
(`warc.paths.gz`) are expanded on the workers, then a Reshuffle spreads the files over workers so
that many files are read in parallel. A graph with one node per path would grow past Dataflow's
10 MB graph limit for a full dump (TFDS hit this with C4).

Pages and records: a WARC file holds request, metadata and warcinfo records besides the
responses, and WET files a warcinfo record per file. Those carry no page, so they never enter the
read stage: they are counted by WARC-Type in the read stage's `other_records.<type>` counters and
the report shows them on a line of their own, not among the dropped pages.
"""

from __future__ import annotations

import logging
from typing import Iterable

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tokenmill.transforms.beam.stage import STATS, cpu_clock, in_global_window
from tokenmill.transforms.document import Document, ErrorKind, ReadFailure
from tokenmill.transforms.readers import InputConfig, detect_format, is_page, iter_listing, iter_records
from tokenmill.transforms.stats import StageStats

log = logging.getLogger("tokenmill")


def expand_pattern(pattern: str, cfg: InputConfig) -> Iterable[str]:
    """Data file paths for one user pattern: a glob's matches, or the lines of a listing."""
    matched = FileSystems.match([pattern])[0].metadata_list
    if not matched:
        # The launcher checked that the pattern matches, so a worker that sees nothing cannot
        # read what the user meant (a local path on a cluster): fail rather than report 0 records.
        raise FileNotFoundError(f"input {pattern} matches nothing on this worker; on a cluster the input "
                                "must be visible to every worker (gs://, s3://, a shared volume)")
    for meta in matched:
        path = meta.path
        if (cfg.format == "listing") or (cfg.format == "auto" and detect_format(path) == "listing"):
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                yield from iter_listing(stream, path, cfg)
        else:
            yield path


class _CountingReader:
    """Wraps a binary stream and counts the bytes read from it (input.bytes in the report)."""

    def __init__(self, stream):
        self._stream, self.count = stream, 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self.count += len(data)
        return data

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def __iter__(self):
        return iter(self.readline, b"")

    def readline(self, limit: int = -1) -> bytes:
        line = self._stream.readline(limit)
        self.count += len(line)
        return line


class _ReadFileFn(beam.DoFn):
    def __init__(self, cfg: InputConfig):
        self._cfg = cfg

    def start_bundle(self) -> None:
        self._stats = StageStats("read")

    def process(self, path: str) -> Iterable[Document | ReadFailure]:
        self._stats.extra["files"] += 1
        try:
            stream = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
        except Exception as err:  # missing object, permissions, network: counted, the job goes on
            yield ReadFailure(path, 0, ErrorKind.UNREADABLE_FILE, f"{type(err).__name__}: {err}")
            return
        counting = _CountingReader(stream)
        try:
            records = iter_records(counting, path, self._cfg)
            while True:
                started = cpu_clock()   # reading and parsing, not the fused stages downstream
                record = next(records, None)
                self._stats.seconds += cpu_clock() - started
                if record is None:
                    break
                if isinstance(record, Document) and not is_page(record):
                    self._stats.extra[f"other_records.{record.record_type or 'missing'}"] += 1
                    continue
                yield record
        except Exception as err:  # a reader bug or I/O error mid-file: count it, keep what was read
            yield ReadFailure(path, counting.count, ErrorKind.UNREADABLE_FILE, f"{type(err).__name__}: {err}")
        finally:
            self._stats.extra["bytes"] += counting.count
            stream.close()

    def finish_bundle(self):
        if self._stats.extra:
            yield beam.pvalue.TaggedOutput(STATS, in_global_window(self._stats))


class ReadInputs(beam.PTransform):
    """User patterns -> records (Document | ReadFailure); file and byte counts go to `ledger`."""

    def __init__(self, patterns: list[str], cfg: InputConfig, ledger):
        super().__init__()
        self._patterns, self._cfg, self._ledger = list(patterns), cfg, ledger

    def expand(self, pipeline):
        files = (pipeline
                 | "Patterns" >> beam.Create(self._patterns)                    # str: glob or listing
                 | "ExpandPatterns" >> beam.FlatMap(expand_pattern, self._cfg)   # str: one data file
                 | "SpreadFiles" >> beam.Reshuffle())
        records = files | "ReadFiles" >> beam.ParDo(_ReadFileFn(self._cfg)).with_outputs(STATS, main="records")
        self._ledger.add_stats(records[STATS])
        return records["records"]                                               # Document | ReadFailure

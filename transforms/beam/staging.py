"""Staging: dedup's documents wait in Parquet files, and only small records cross a shuffle.

A runner keeps whatever crosses a shuffle: Beam's FnApiRunner (the DirectRunner) holds every
PCollection at a fusion break in the launcher's memory, and Dataflow bills shuffled bytes. So the
dedup stages (as datatrove does) move documents through files, and keys, ranks and decisions
through the graph:
1. The stage's staging DoFn writes each document to `OUT/staging/<stage>/<token>.parquet` (plus
   the stage's small columns: rank, keys) and emits, per file, `(token, path)` and the file's keys
   as packed fixed-width blobs, one per key partition.
2. `SharedKeys`: per partition, the keys that occur at least twice (a packed blob per partition).
   Every other document is alone with its key, so it is kept as its own cluster without a shuffle.
3. The stage re-reads the small columns of each staged file and emits grouping records only for
   documents with a shared key; its decisions are `(token, (row, ...))` tuples, only for documents
   whose outcome is not "kept as its own cluster" (`keep`, `drop`, `fail` below).
4. `ApplyDecisions` joins each file with its decisions (CoGroupByKey by token: one file's small
   decisions at a time), reads the documents back in order and emits `(document, outcome)` pairs
   to RecordOutcomes; then the staged files are deleted.
Steps 3 and 4 take the list of written files (the output of the writes) as their input, never a
glob read while the graph is built, so the files order the steps on every runner.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Iterable, Iterator

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tokenmill.transforms.beam.dedup_common import TappedDoFn, charged, with_cluster
from tokenmill.transforms.beam.stage import STATS, RecordOutcomes, cpu_clock, in_global_window
from tokenmill.transforms.document import Document, Drop, DropReason, ErrorKind, Failure
from tokenmill.transforms.schemas import STAGED_DOC_SCHEMA, staged_doc, staged_row

log = logging.getLogger("tokenmill")

STAGING = "staging"
"""The folder under OUT that holds staged documents while a run is going (deleted at its end)."""
FILES, KEYS, DECISIONS, DONE = "files", "keys", "decisions", "done"
ROWS_PER_FILE = 20_000
"""Documents per staged file: one file's decisions are what ApplyDecisions holds at a time."""
KEY_PARTITIONS = 16
"""Partitions per key kind in SharedKeys: one partition's keys are what one worker holds (16 bytes
each: 1M documents, 14 bands, 16 partitions = 14 MiB per partition)."""
_WRITE_BATCH = 512


def staging_dir(out_dir: str, stage: str) -> str:
    return FileSystems.join(out_dir, STAGING, stage)


# Decisions: small tuples (a tuple encodes in a few bytes; a dataclass would be pickled).
def keep(row: int, cluster_size: int) -> tuple:
    """Kept as the survivor of its cluster, standing for `cluster_size` input documents."""
    return row, "k", cluster_size, ""


def drop(row: int, reason: DropReason, detail: str) -> tuple:
    return row, "d", reason.value, detail


def fail(row: int, kind: ErrorKind, detail: str) -> tuple:
    return row, "f", kind.value, detail


def outcome_of(doc: Document, decision: tuple | None) -> tuple[Document | None, Any]:
    """The RecordOutcomes pair of a staged document; no decision means kept as its own cluster."""
    if decision is None:
        return None, with_cluster(doc, doc.id, doc.cluster_size)
    _, kind, value, detail = decision
    if kind == "k":
        return None, with_cluster(doc, doc.id, value)
    if kind == "d":
        return doc, Drop(DropReason(value), detail)
    return doc, Failure(ErrorKind(value), detail)


class StagingWriter:
    """Writes documents (and a stage's extra columns) to Parquet files of ROWS_PER_FILE rows."""

    def __init__(self, directory: str, extra: list[tuple[str, pa.DataType]]):
        self._dir = directory
        self._schema = pa.schema(list(STAGED_DOC_SCHEMA) + [pa.field(n, t) for n, t in extra])
        self._extra = [n for n, _ in extra]
        self._file = self._writer = None
        self._rows: list[dict] = []
        self.token, self.path, self.count = "", "", 0

    def add(self, doc: Document, **extra: Any) -> tuple[str, int]:
        """Stages one document; returns its (file token, row)."""
        if self._writer is None:
            self.token = uuid.uuid4().hex[:16]
            self.path = FileSystems.join(self._dir, f"{self.token}.parquet")
            self._file = FileSystems.create(self.path)
            self._writer = pq.ParquetWriter(self._file, self._schema, compression="zstd", compression_level=1)
            self.count = 0
        row = staged_row(doc)
        row.update({name: extra.get(name) for name in self._extra})
        self._rows.append(row)
        self.count += 1
        if len(self._rows) >= _WRITE_BATCH:
            self._write_rows()
        return self.token, self.count - 1

    @property
    def full(self) -> bool:
        return self.count >= ROWS_PER_FILE

    def close(self) -> tuple[str, str] | None:
        """Finishes the current file; returns its (token, path), or None if none was open."""
        if self._writer is None:
            return None
        self._write_rows()
        self._writer.close()
        self._file.close()
        self._writer = self._file = None
        return self.token, self.path

    def _write_rows(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []


class StagingDoFn(TappedDoFn):
    """Base of the stages' staging DoFns: `_stage` writes a document and remembers its keys; each
    finished file leaves as (token, path) on FILES and its keys, partitioned, on KEYS."""

    def __init__(self, stage: str, directory: str, extra: list[tuple[str, pa.DataType]]):
        self._stage, self._dir, self._extra = stage, directory, extra

    def start_bundle(self) -> None:
        super().start_bundle()
        self._writer = StagingWriter(self._dir, self._extra)
        self._keys: dict[str, list[bytes]] = {}

    def _stage_doc(self, doc: Document, keys: dict[str, list[bytes]], **extra: Any) -> tuple[str, int]:
        ref = self._writer.add(doc, **extra)
        for kind, values in keys.items():
            self._keys.setdefault(kind, []).extend(values)
        return ref

    def _finished_file(self) -> Iterable[Any]:
        """After `_stage_doc`: the file's outputs once it is full (empty otherwise)."""
        return self._close_file() if self._writer.full else ()

    def _close_file(self) -> Iterable[Any]:
        closed = self._writer.close()
        if closed is None:
            return
        keys, self._keys = self._keys, {}
        for kind, values in keys.items():
            parts: dict[int, list[bytes]] = {}
            for key in values:
                parts.setdefault(key[-1] % KEY_PARTITIONS, []).append(key)
            for part, members in parts.items():
                yield beam.pvalue.TaggedOutput(KEYS, (f"{kind}:{part:02d}", b"".join(members)))
        yield beam.pvalue.TaggedOutput(FILES, closed)

    def _pending(self) -> Iterable[Any]:
        """What the bundle still owes at its end: the open file's outputs."""
        return self._close_file()

    def finish_bundle(self) -> Iterable[Any]:
        # the work done here (a batch, the last file) is the stage's cost too, as in `charged`
        started = cpu_clock()
        outputs = [beam.pvalue.TaggedOutput(item.tag, in_global_window(item.value)) for item in self._pending()]
        self._tap.stats.seconds += cpu_clock() - started
        yield from outputs
        yield from super().finish_bundle()


KEY_WIDTHS = {"text": 16, "url": 16, "rank": 16, "band": 18}
"""Bytes per key of each kind: 128-bit hashes (band keys: 2 bytes of band index, then the hash)."""


class _CountKeys(beam.DoFn):
    """(kind:partition, [packed keys]) -> (kind, packed keys that occur at least twice)."""

    def process(self, group: tuple[str, Iterable[bytes]]) -> Iterable[tuple[str, bytes]]:
        name, blobs = group
        kind = name.split(":", 1)[0]
        keys = np.frombuffer(b"".join(blobs), dtype=f"V{KEY_WIDTHS[kind]}")
        values, counts = np.unique(keys, return_counts=True)
        shared = values[counts >= 2]
        if len(shared):
            yield kind, shared.tobytes()


class SharedKeys(beam.PTransform):
    """PCollection[(kind:partition, packed keys)] -> PCollection[(kind, packed shared keys)] (a side input)."""

    def expand(self, keys):
        # (kind:partition, blob) -> (kind:partition, [blob]) -> (kind, keys seen twice or more)
        return keys | "GroupPartitions" >> beam.GroupByKey() | "CountKeys" >> beam.ParDo(_CountKeys())


class SharedLookup:
    """Membership in the shared keys (the SharedKeys side input), built once per worker and list."""

    def __init__(self):
        self._source, self._sorted = None, {}

    def update(self, shared: list[tuple[str, bytes]]) -> None:
        if shared is self._source:
            return
        parts: dict[str, list[bytes]] = {}
        for kind, blob in shared:
            parts.setdefault(kind, []).append(blob)
        self._sorted = {kind: np.sort(np.frombuffer(b"".join(blobs), dtype=f"V{KEY_WIDTHS[kind]}"))
                        for kind, blobs in parts.items()}
        self._source = shared

    def contains(self, kind: str, keys: list[bytes]) -> np.ndarray:
        """A boolean per key."""
        table = self._sorted.get(kind)
        if table is None or not keys:
            return np.zeros(len(keys), dtype=bool)
        probe = np.frombuffer(b"".join(keys), dtype=f"V{KEY_WIDTHS[kind]}")
        at = np.searchsorted(table, probe).clip(0, len(table) - 1)
        return table[at] == probe


def read_rows(path: str, columns: list[str] | None = None, batch_size: int = 1024) -> Iterator[dict]:
    """The rows of a staged file, in the order they were written."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=columns):
            yield from batch.to_pylist()


class _ApplyFn(TappedDoFn):
    """(token, {file: [path], decision: [(row, ...)]}) -> (document, outcome) pairs; DONE: the path."""

    def __init__(self, stage: str, singleton_stat: str):
        self._stage, self._singleton_stat = stage, singleton_stat

    @charged
    def process(self, joined: tuple[str, dict]) -> Iterable[Any]:
        token, parts = joined
        paths = list(parts["file"])
        decisions = {d[0]: d for d in parts["decision"]}
        if len(paths) != 1:   # a decision for a file no write reported: a bug, never silently lost
            raise RuntimeError(f"staged file {token}: {len(paths)} paths for {len(decisions)} decisions")
        for row, values in enumerate(read_rows(paths[0])):
            decision = decisions.get(row)
            if decision is None and self._singleton_stat:
                self._tap.observe_size(self._singleton_stat, 1)
            yield outcome_of(staged_doc(values), decision)
        yield beam.pvalue.TaggedOutput(DONE, paths[0])


class _DeleteStaged(beam.DoFn):
    """[paths] -> nothing: deletes the staged files (all read) and the stage's folder."""

    def __init__(self, directory: str):
        self._dir = directory

    def process(self, paths: list[str]) -> Iterable[None]:
        if paths:
            FileSystems.delete(paths)
        leftovers = FileSystems.match([FileSystems.join(self._dir, "*")])[0].metadata_list
        if leftovers:   # files of retried bundles that no step read
            FileSystems.delete([m.path for m in leftovers])
        if not FileSystems.get_scheme(self._dir) and FileSystems.exists(self._dir):
            FileSystems.delete([self._dir])   # local folders; object stores have none
        return ()


class ApplyDecisions(beam.PTransform):
    """{files: (token, path), decisions: (token, decision)} -> kept documents; the accounting goes
    to the ledger through RecordOutcomes, as for any stage that decides after a shuffle."""

    def __init__(self, stage: str, ledger, directory: str, singleton_stat: str = ""):
        super().__init__()
        self._stage, self._ledger, self._dir, self._singleton_stat = stage, ledger, directory, singleton_stat

    def expand(self, pcolls):
        # token: {file: [path], decision: [(row, kind, value, detail)]} -> (document, outcome) pairs
        applied = (pcolls
                   | "JoinFileDecisions" >> beam.CoGroupByKey()
                   | "ReadStagedDocs" >> beam.ParDo(_ApplyFn(self._stage, self._singleton_stat))
                   .with_outputs(DONE, STATS, main="pairs"))
        kept = applied.pairs | "RecordOutcomes" >> RecordOutcomes(self._stage, self._ledger)
        # every file read -> [paths] -> staged files deleted
        (applied[DONE]
         | "CollectStaged" >> beam.combiners.ToList()
         | "DeleteStaged" >> beam.ParDo(_DeleteStaged(self._dir)))
        self._ledger.add_stats(applied[STATS])
        return kept

"""The generic stage wrapper: every filter and annotator runs through `ApplyFilter`.

A stage is a factory that returns a step (`Document -> Document | Drop | Failure`, or a batch
version over lists). `ApplyFilter` does all the bookkeeping, so a new filter never needs a DoFn
of its own (as datatrove's BaseFilter and DCLM's mappers do):
- the step's model is built once per worker, in `setup()`, and closed in `teardown()`;
- batching for model calls happens inside the DoFn (flushed in `finish_bundle`), which costs
  nothing extra per element, unlike a separate BatchElements step;
- each outcome is counted into a `StageStats` (counts travel as data, DESIGN.md section 4.3),
  mirrored to Beam metrics per bundle for live monitoring;
- the stage's cost is counted as CPU seconds of the thread running the step and its bookkeeping
  (`cpu_clock`), plus the CPU of helper processes the step reports (the isolated extractor); the
  outputs are handed downstream only after the clock stops, so fused downstream stages, which
  run inside the `yield`, are never counted twice;
- dropped documents go to the `dropped` output (when full rejects are kept) and errors to the
  dead-letter `errors` output; an exception in a step fails that document, not the job.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from tokenmill.transforms.beam.worker_startup import charge_startup, note_first_step
from tokenmill.transforms.document import Document, Drop, ErrorKind, Failure, ReadFailure
from tokenmill.transforms.stats import StageStats, signal_value

log = logging.getLogger("tokenmill")

KEPT, DROPPED, ERRORS, STATS = "kept", "dropped", "errors", "stats"
PROGRESS_EVERY_S = 30.0


def cpu_clock() -> float:
    """CPU seconds of the calling thread. Stage costs are CPU time, not wall time: on shared cores
    wall time would charge a stage for other processes' work, and in a fused Beam stage it would
    charge it for the downstream steps that run inside its `yield`."""
    note_first_step()   # a worker's start-up ends where its first measured step begins
    return time.thread_time()


def process_cpu_clock() -> float:
    """CPU seconds of the whole process: for batched model steps, whose native code (OpenMP in
    the e5 encoder, BLAS, SentencePiece) runs on threads of its own that the calling thread's
    clock does not see. Exact when one bundle runs at a time in the process, as in the
    DirectRunner's in_memory and multi_processing modes; with several bundles at once (the
    multi_threading mode) the concurrent steps would be counted too."""
    note_first_step()
    return time.process_time()


def helper_cpu(step: object) -> float:
    """CPU seconds spent so far in the step's helper processes (0 for a step that has none)."""
    return float(getattr(step, "helper_cpu_seconds", 0.0))


@dataclass(frozen=True)
class Rejected:
    """A dropped document on its way to `rejected/<stage>/` (text is scrubbed when written)."""

    stage: str
    reason: str
    detail: str
    doc: Document


@dataclass(frozen=True)
class ErrorRow:
    """A dead-letter record for `errors/`: where it was, which stage, and why."""

    stage: str
    kind: str
    detail: str
    source: str
    offset: int
    id: str
    url: str


@dataclass(frozen=True)
class StageOptions:
    samples_per_reason: int = 5
    keep_rejected: bool = False
    batch_size: int = 1
    """>1: the step takes a list of documents and returns a list of outcomes (model calls)."""
    histograms: tuple[tuple[str, str], ...] = ()
    """(signal, bin kind) pairs histogrammed over every document the stage saw (see stats.signal_value)."""
    categories: tuple[str, ...] = ()
    """Document fields counted by value over the kept documents (e.g. `lang`)."""
    top_samples: str = ""
    """A 0..1 signal (e.g. `toxicity`): also sample the highest-scoring kept and dropped documents,
    under samples `top_kept_by_<signal>` and `top_dropped_by_<signal>`."""


def in_global_window(value: Any) -> WindowedValue:
    return WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])


class _Accountant:
    """Counts outcomes into StageStats and routes them to the kept/dropped/errors outputs."""

    def __init__(self, stage: str, options: StageOptions):
        self.stage, self.options = stage, options
        self.stats = StageStats(stage)
        self._last_log = time.monotonic()
        self._total_seen = 0

    def outputs(self, doc: Document | ReadFailure, outcome: Document | Drop | Failure) -> Iterable[Any]:
        source_doc = doc if isinstance(doc, Document) else None
        self.stats.record(source_doc, outcome, self.options.samples_per_reason)
        self._total_seen += 1
        final = outcome if isinstance(outcome, Document) else getattr(outcome, "annotated", None) or source_doc
        if final is not None:
            for name, kind in self.options.histograms:
                self.stats.observe(name, kind, signal_value(final, name))
            if self.options.top_samples and not isinstance(outcome, Failure):
                signal = self.options.top_samples
                which = "kept" if isinstance(outcome, Document) else "dropped"
                self.stats.sample_top(f"top_{which}_by_{signal}", final, signal_value(final, signal),
                                      getattr(outcome, "detail", "") or f"{signal} {signal_value(final, signal):.3f}",
                                      self.options.samples_per_reason)
        if isinstance(outcome, Document):
            for name in self.options.categories:
                self.stats.count_category(name, str(getattr(outcome, name)))
            yield outcome
        elif isinstance(outcome, Drop):
            self.stats.count_domain(final.url if final is not None else "", 1)
            if self.options.keep_rejected and final is not None:
                yield beam.pvalue.TaggedOutput(DROPPED, Rejected(self.stage, outcome.reason.value,
                                                                 outcome.detail, final))
        else:
            self.stats.count_domain(source_doc.url if source_doc is not None else "", 2)
            yield beam.pvalue.TaggedOutput(ERRORS, _error_row(self.stage, doc, outcome))

    def maybe_log_progress(self) -> None:
        # The rate divides by this stage's own CPU seconds: fused stages share one bundle and its
        # wall clock, so a rate over wall time gives every stage of the bundle the same docs/s.
        now = time.monotonic()
        if now - self._last_log >= PROGRESS_EVERY_S:
            busy = self.stats.seconds
            log.info("stage %s: %d documents so far in this bundle, %.1f CPU s in the stage, %s docs per CPU s",
                     self.stage, self._total_seen, busy, f"{self._total_seen / busy:.1f}" if busy else "-")
            self._last_log = now

    def flush(self) -> Iterable[Any]:
        """Emits the bundle's stats (in finish_bundle) and mirrors them to Beam metrics."""
        stats, self.stats = self.stats, StageStats(self.stage)
        if not stats.seen and not stats.extra:
            return
        namespace = f"stage.{self.stage}"
        Metrics.counter(namespace, "seen").inc(stats.seen)
        Metrics.counter(namespace, "kept").inc(stats.kept)
        for reason, n in stats.dropped.items():
            Metrics.counter(namespace, f"dropped.{reason}").inc(n)
        for kind, n in stats.errors.items():
            Metrics.counter(namespace, f"error.{kind}").inc(n)
        yield beam.pvalue.TaggedOutput(STATS, in_global_window(stats))


def _error_row(stage: str, doc: Document | ReadFailure, failure: Failure) -> ErrorRow:
    if isinstance(doc, ReadFailure):
        return ErrorRow(stage, failure.kind.value, failure.detail, doc.source, doc.offset, "", "")
    return ErrorRow(stage, failure.kind.value, failure.detail, doc.source, doc.offset, doc.id, doc.url)


class _StageFn(beam.DoFn):
    def __init__(self, stage: str, make_step: Callable[[], Callable], options: StageOptions):
        self._stage, self._make_step, self._options = stage, make_step, options

    def setup(self) -> None:
        self._clock = process_cpu_clock if self._options.batch_size > 1 else cpu_clock
        started = self._clock()
        self._step = self._make_step()   # loads the stage's model: part of what the stage costs
        self._setup_seconds = self._clock() - started

    def start_bundle(self) -> None:
        self._accountant = _Accountant(self._stage, self._options)
        self._accountant.stats.seconds, self._setup_seconds = self._setup_seconds, 0.0
        self._batch: list[Document] = []

    def process(self, doc: Document | ReadFailure) -> Iterable[Any]:
        started, helper = self._clock(), helper_cpu(self._step)
        if self._options.batch_size > 1:
            self._batch.append(doc)
            outputs = list(self._run_batch()) if len(self._batch) >= self._options.batch_size else []
        else:
            outputs = list(self._accountant.outputs(doc, self._run_one(doc)))
        self._charge(started, helper)
        yield from outputs
        self._accountant.maybe_log_progress()

    def finish_bundle(self) -> Iterable[WindowedValue]:
        started, helper = self._clock(), helper_cpu(self._step)
        outputs = [in_global_window(item) if not isinstance(item, beam.pvalue.TaggedOutput) else
                   beam.pvalue.TaggedOutput(item.tag, in_global_window(item.value)) for item in self._run_batch()]
        self._charge(started, helper)
        charge_startup()   # once per worker process (worker_startup.py)
        yield from outputs
        yield from self._accountant.flush()

    def _charge(self, started: float, helper: float) -> None:
        self._accountant.stats.seconds += self._clock() - started + helper_cpu(self._step) - helper

    def teardown(self) -> None:
        close = getattr(getattr(self, "_step", None), "close", None)
        if close is not None:
            close()

    def _run_one(self, doc: Document | ReadFailure) -> Document | Drop | Failure:
        if isinstance(doc, ReadFailure):
            return Failure(doc.kind, doc.detail)
        try:
            return self._step(doc)
        except Exception as err:  # one bad document must not fail the job; it goes to errors/
            log.debug("stage %s failed on %s", self._stage, doc.id, exc_info=True)
            return Failure(ErrorKind.INTERNAL, f"{type(err).__name__}: {err}")

    def _run_batch(self) -> Iterable[Any]:
        batch, self._batch = self._batch, []
        if not batch:
            return
        outcomes = self._run_many(batch)
        for doc, outcome in zip(batch, outcomes):
            yield from self._accountant.outputs(doc, outcome)

    def _run_many(self, batch: Sequence[Document | ReadFailure]) -> list[Document | Drop | Failure]:
        docs = [d for d in batch if isinstance(d, Document)]
        try:
            results = iter(self._step(docs) if docs else [])
        except Exception:  # isolate the document that breaks the batch call
            results = iter([self._run_one_batched(d) for d in docs])
        return [Failure(d.kind, d.detail) if isinstance(d, ReadFailure) else next(results) for d in batch]

    def _run_one_batched(self, doc: Document) -> Document | Drop | Failure:
        try:
            return self._step([doc])[0]
        except Exception as err:  # one bad document must not fail the job; it goes to errors/
            return Failure(ErrorKind.MODEL_ERROR, f"{type(err).__name__}: {err}")


class ApplyFilter(beam.PTransform):
    """Runs one stage over documents; returns the kept documents and registers the rest with `ledger`."""

    def __init__(self, stage: str, make_step: Callable[[], Callable], ledger: "LedgerLike",
                 batch_size: int = 1, histograms: tuple[tuple[str, str], ...] = (),
                 categories: tuple[str, ...] = (), top_samples: str = ""):
        super().__init__()
        self._stage, self._make_step, self._ledger = stage, make_step, ledger
        self._options = StageOptions(ledger.samples_per_reason, ledger.keep_rejected, batch_size,
                                     histograms, categories, top_samples)

    def expand(self, docs):
        # docs: PCollection[Document | ReadFailure]
        results = docs | beam.ParDo(_StageFn(self._stage, self._make_step, self._options)).with_outputs(
            DROPPED, ERRORS, STATS, main=KEPT)
        self._ledger.register(self._stage, results)
        return results[KEPT]   # PCollection[Document]


class _RecordOutcomesFn(beam.DoFn):
    def __init__(self, stage: str, options: StageOptions):
        self._stage, self._options = stage, options

    def start_bundle(self) -> None:
        self._accountant = _Accountant(self._stage, self._options)

    def process(self, pair: tuple[Document, Document | Drop | Failure]) -> Iterable[Any]:
        started = cpu_clock()
        doc, outcome = pair
        outputs = list(self._accountant.outputs(doc, outcome))
        self._accountant.stats.seconds += cpu_clock() - started
        yield from outputs

    def finish_bundle(self) -> Iterable[Any]:
        yield from self._accountant.flush()


class RecordOutcomes(beam.PTransform):
    """Bookkeeping for stages that decide after a shuffle (dedup): (doc, outcome) pairs in, kept docs out."""

    def __init__(self, stage: str, ledger: "LedgerLike", histograms: tuple[tuple[str, str], ...] = (),
                 categories: tuple[str, ...] = ()):
        super().__init__()
        self._stage, self._ledger = stage, ledger
        self._options = StageOptions(ledger.samples_per_reason, ledger.keep_rejected, 1, histograms, categories)

    def expand(self, pairs):
        # pairs: PCollection[(Document, Document | Drop | Failure)]
        results = pairs | beam.ParDo(_RecordOutcomesFn(self._stage, self._options)).with_outputs(
            DROPPED, ERRORS, STATS, main=KEPT)
        self._ledger.register(self._stage, results)
        return results[KEPT]


class LedgerLike(Protocol):
    """What the stage wrappers need of the ledger (tokenmill.transforms.beam.ledger.Ledger)."""

    samples_per_reason: int
    keep_rejected: bool

    def register(self, stage: str, results) -> None: ...

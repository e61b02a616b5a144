"""Pieces shared by the dedup composites: per-bundle stats from inside DoFns, the cluster-size tap.

Dedup decides after shuffles of small records (staging.py), so its stages end with
`RecordOutcomes` for the accounting; the facts only dedup knows (bucket sizes, edges, rounds,
cluster sizes) travel as extra `StageStats` for the same stage, merged with the rest by the
ledger into `stats/<stage>.json`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from tokenmill.transforms.beam.stage import STATS, cpu_clock, in_global_window
from tokenmill.transforms.beam.worker_startup import charge_startup
from tokenmill.transforms.dedup import CLUSTER_SIZE_EDGES
from tokenmill.transforms.document import Document
from tokenmill.transforms.stats import Histogram, StageStats


class StatsTap:
    """Counters and cluster-size histograms of one bundle, emitted as StageStats and Beam metrics."""

    def __init__(self, stage: str):
        self.stage = stage
        self.stats = StageStats(stage)
        self._distributions: dict[str, Any] = {}

    def count(self, name: str, n: float = 1) -> None:
        self.stats.extra[name] += n

    def distribution(self, name: str, value: int) -> None:
        """A Beam distribution metric (min, max, mean): the size of what one DoFn call holds,
        e.g. a bucket's members, so a run shows that per-key state stays bounded."""
        dist = self._distributions.get(name)
        if dist is None:
            dist = self._distributions[name] = Metrics.distribution(f"stage.{self.stage}", name)
        dist.update(value)

    def observe_size(self, name: str, size: int) -> None:
        hist = self.stats.histograms.get(name)
        if hist is None:
            hist = self.stats.histograms[name] = Histogram(CLUSTER_SIZE_EDGES, [0] * (len(CLUSTER_SIZE_EDGES) + 1))
        hist.add(float(size))

    def flush(self) -> Iterable[Any]:
        """The bundle's stats as a tagged, windowed output (for finish_bundle), then a fresh start."""
        stats, self.stats = self.stats, StageStats(self.stage)
        if not stats.extra and not stats.histograms:
            return
        for name, n in stats.extra.items():
            if isinstance(n, int):
                Metrics.counter(f"stage.{self.stage}", name).inc(n)
        yield beam.pvalue.TaggedOutput(STATS, in_global_window(stats))


def charged(process: Callable) -> Callable:
    """Decorates a TappedDoFn's `process`: its thread CPU time goes to the stage's `seconds`. The
    outputs are collected and handed on after the clock stops, because a fused downstream step
    runs inside the `yield` and must not be charged to this one."""
    @functools.wraps(process)
    def timed(self, *args, **kwargs) -> list:
        started = cpu_clock()
        outputs = list(process(self, *args, **kwargs) or ())
        self._tap.stats.seconds += cpu_clock() - started
        return outputs
    return timed


class TappedDoFn(beam.DoFn):
    """A DoFn whose bundle counts go into a fresh StatsTap and leave as stats at the bundle's end.
    Subclasses set `self._stage` in __init__."""

    def start_bundle(self) -> None:
        self._tap = StatsTap(self._stage)

    def finish_bundle(self) -> Iterable[Any]:
        charge_startup()   # once per worker process (worker_startup.py)
        yield from self._tap.flush()


def with_cluster(doc: Document, cluster_id: str, cluster_size: int) -> Document:
    return dataclasses.replace(doc, cluster_id=cluster_id, cluster_size=cluster_size)


class _ClusterSizes(TappedDoFn):
    def __init__(self, stage: str):
        self._stage = stage

    def process(self, doc: Document) -> Iterable[Any]:
        self._tap.observe_size("cluster_size", doc.cluster_size)
        return ()


class ClusterSizeStats(beam.PTransform):
    """Histogram `cluster_size` over kept documents: one count per cluster (its survivor)."""

    def __init__(self, stage: str):
        super().__init__()
        self._stage = stage

    def expand(self, kept):
        # kept: PCollection[Document] -> PCollection[StageStats]
        return (kept | beam.ParDo(_ClusterSizes(self._stage)).with_outputs(STATS, main="none"))[STATS]


def facts(pipeline: beam.Pipeline, label: str, stage: str, values: dict[str, int]):
    """One StageStats with constant facts of the run's config (bands, rows, rounds) for the report."""
    stats = StageStats(stage)
    stats.extra.update(values)
    return pipeline | label >> beam.Create([stats])

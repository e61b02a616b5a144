"""Per-stage statistics as data: counts by outcome and reason, deterministic samples, histograms.

Beam metrics differ between runners (and some have none), so the report is built from these
objects instead: each worker accumulates a `StageStats` per bundle, the pipeline merges them with
a CombineFn, and writes one JSON file per stage. Merging is associative and commutative, and the
samples are a bottom-k by a stable hash of the document id, so the same input gives the same
report whatever the runner, the worker count or the bundle sizes.
"""

from __future__ import annotations

import bisect
import heapq
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tokenmill.transforms.document import Document, Drop, Failure, stable_hash

SAMPLE_CHARS = 600

# Fixed bin edges per histogram, so that histograms from different workers merge by adding.
HISTOGRAM_EDGES: dict[str, tuple[float, ...]] = {
    "chars": tuple(float(10 ** (e / 4)) for e in range(0, 29)),          # 1 .. 10^7 characters
    "score": tuple(i / 20 for i in range(21)),                            # 0 .. 1 in steps of 0.05
}


@dataclass(frozen=True)
class Sample:
    """A dropped (or kept) document shown in the report: the start of its text and why."""

    rank: int
    id: str
    url: str
    text: str
    detail: str


@dataclass
class Histogram:
    edges: tuple[float, ...]
    counts: list[int]

    @classmethod
    def named(cls, kind: str) -> "Histogram":
        edges = HISTOGRAM_EDGES[kind]
        return cls(edges, [0] * (len(edges) + 1))   # under the first edge ... over the last

    def add(self, value: float) -> None:
        if not math.isnan(value):
            self.counts[bisect.bisect_right(self.edges, value)] += 1

    def merge(self, other: "Histogram") -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]


@dataclass
class StageStats:
    """What one stage saw, kept, dropped (by reason) and failed on (by error kind)."""

    stage: str
    seen: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    """The stage's cost in CPU seconds: thread CPU time inside its steps and bookkeeping, plus the
    CPU of helper processes (the isolated extractor); see `tokenmill.transforms.beam.stage.cpu_clock`."""
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    histograms: dict[str, Histogram] = field(default_factory=dict)
    extra: Counter = field(default_factory=Counter)
    """Stage-specific totals (input files and bytes for `read`, tokens for `tokenize`, ...)."""
    categories: dict[str, Counter] = field(default_factory=dict)
    """Counts of categorical values over the stage's kept documents (e.g. `lang`)."""
    domains: dict[str, list[int]] = field(default_factory=dict)
    """Per bundle only: URL host -> [kept, dropped, errors]. The ledger sums these per host in a
    keyed combine (a dump has millions of hosts, too many for one merged object) and keeps the top
    hosts; `merge` and `to_json` leave them out."""

    def record(self, doc: Document | None, outcome: Document | Drop | Failure, samples_per_reason: int) -> None:
        self.seen += 1
        if isinstance(outcome, Document):
            self.kept += 1
        elif isinstance(outcome, Drop):
            self.dropped[outcome.reason.value] += 1
            if doc is not None and samples_per_reason:
                self._sample(outcome.reason.value, doc, outcome.detail, samples_per_reason)
        else:
            self.errors[outcome.kind.value] += 1

    def count_domain(self, url: str, outcome: int, n: int = 1) -> None:
        """Counts a page of `url`'s host as kept (outcome 0), dropped (1) or an error (2)."""
        counts = self.domains.setdefault(url_host(url), [0, 0, 0])
        counts[outcome] += n

    def count_category(self, name: str, value: str) -> None:
        self.categories.setdefault(name, Counter())[value] += 1

    def observe(self, name: str, kind: str, value: float) -> None:
        """Adds a value to the histogram `name` with the bins of `kind` (see HISTOGRAM_EDGES)."""
        if name not in self.histograms:
            self.histograms[name] = Histogram.named(kind)
        self.histograms[name].add(value)

    def sample_top(self, key: str, doc: Document, value: float, detail: str, k: int) -> None:
        """Keeps the k documents with the highest `value` under `samples[key]` (e.g. the most toxic
        kept documents). The rank orders by value, then by stable hash, so merging keeps the top k
        whatever the bundles; NaN values are not sampled."""
        if k and not math.isnan(value):
            # rank: smaller is kept; 2^40 steps over [0, 1] values, the hash breaks ties.
            rank = (int((1.0 - min(max(value, 0.0), 1.0)) * (1 << 40)) << 20) | (stable_hash(doc.id) >> 44)
            self._sample(key, doc, detail, k, rank)

    def _sample(self, reason: str, doc: Document, detail: str, k: int, rank: int | None = None) -> None:
        # Bottom-k by stable hash: a uniform sample that is the same for any split into bundles.
        heap = self.samples.setdefault(reason, [])
        rank = stable_hash(doc.id) if rank is None else rank
        sample = Sample(rank, doc.id, doc.url, clip(doc.text), detail)
        if len(heap) < k:
            heap.append(sample)
        elif sample.rank < max(s.rank for s in heap):
            heap.remove(max(heap, key=lambda s: s.rank))
            heap.append(sample)

    def merge(self, other: "StageStats", samples_per_reason: int) -> "StageStats":
        self.seen += other.seen
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.errors.update(other.errors)
        self.extra.update(other.extra)
        for name, counts in other.categories.items():
            self.categories.setdefault(name, Counter()).update(counts)
        self.seconds += other.seconds
        for reason, samples in other.samples.items():
            merged = self.samples.get(reason, []) + samples
            self.samples[reason] = heapq.nsmallest(samples_per_reason, merged, key=lambda s: (s.rank, s.id))
        for name, hist in other.histograms.items():
            if name in self.histograms:
                self.histograms[name].merge(hist)
            else:
                self.histograms[name] = Histogram(hist.edges, list(hist.counts))
        return self

    def to_json(self) -> str:
        return json.dumps({
            "stage": self.stage, "seen": self.seen, "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())), "errors": dict(sorted(self.errors.items())),
            "seconds": round(self.seconds, 6), "extra": dict(sorted(self.extra.items())),
            "samples": {r: [s.__dict__ for s in sorted(v, key=lambda s: (s.rank, s.id))]
                        for r, v in sorted(self.samples.items())},
            "histograms": {n: {"edges": list(h.edges), "counts": h.counts} for n, h in sorted(self.histograms.items())},
            "categories": {n: dict(c.most_common()) for n, c in sorted(self.categories.items())},
        }, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "StageStats":
        data = json.loads(text)
        return cls(
            stage=data["stage"], seen=data["seen"], kept=data["kept"],
            dropped=Counter(data["dropped"]), errors=Counter(data["errors"]), seconds=data["seconds"],
            extra=Counter(data.get("extra", {})),
            samples={r: [Sample(**s) for s in v] for r, v in data.get("samples", {}).items()},
            histograms={n: Histogram(tuple(h["edges"]), h["counts"]) for n, h in data.get("histograms", {}).items()},
            categories={n: Counter(c) for n, c in data.get("categories", {}).items()},
        )


def url_host(url: str) -> str:
    """The host of a URL in lower case without a leading `www.`; `(no url)` when there is none."""
    try:
        host = urlsplit(url.strip()).hostname if "//" in url else None
    except ValueError:   # a malformed URL from a crawl (an unclosed IPv6 bracket, a bad port)
        return "(malformed url)"
    if not host:
        return "(no url)"
    return host[4:] if host.startswith("www.") else host


def clip(text: str, limit: int = SAMPLE_CHARS) -> str:
    """The start of `text`, cut at whitespace so that no word is cut in half: the PII scrubber the
    ledger applies to samples cannot recognise half an email address or card number."""
    if len(text) <= limit:
        return text
    cut = max(text.rfind(c, 0, limit + 1) for c in " \n\t\r\u00a0")
    return text[:cut] if cut > 0 else ""


def signal_value(doc: Document, name: str) -> float:
    """A numeric signal of a document by name: `chars`, a Document field, or a key of `signals`."""
    if name == "chars":
        return float(len(doc.text))
    value = getattr(doc, name, None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return float(doc.signals.get(name, float("nan")))

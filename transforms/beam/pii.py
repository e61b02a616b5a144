"""ScrubPII: the PII stage as a composite, ApplyFilter plus entity counts for the report.

ApplyFilter does the stage's bookkeeping (seen, kept, too_much_pii drops, errors, the
`pii_findings` histogram). The counts per entity type of the kept documents go to the ledger as
extra StageStats of the same stage (`replaced.<ENTITY>`, `docs_with_pii`), so `stats/pii.json` and
the report say what was replaced, not only how many documents went through.
"""

from __future__ import annotations

import functools
from typing import Iterable

import apache_beam as beam

from tokenmill.transforms.beam.stage import ApplyFilter, in_global_window
from tokenmill.transforms.document import Document
from tokenmill.transforms.pii import PIIConfig, PiiStep
from tokenmill.transforms.stats import StageStats

STAGE = "pii"


class _CountEntities(beam.DoFn):
    """Per bundle: replaced findings per entity type over the kept documents, as StageStats.extra."""

    def start_bundle(self) -> None:
        self._stats = StageStats(STAGE)

    def process(self, doc: Document) -> Iterable[StageStats]:
        if doc.pii_counts:
            self._stats.extra["docs_with_pii"] += 1
        for entity, n in doc.pii_counts.items():
            self._stats.extra[f"replaced.{entity}"] += n
        return ()

    def finish_bundle(self):
        if self._stats.extra:
            yield in_global_window(self._stats)


class ScrubPII(beam.PTransform):
    """PCollection[Document] -> PCollection[Document] with PII replaced (and counted)."""

    def __init__(self, cfg: PIIConfig, ledger):
        super().__init__()
        self._cfg, self._ledger = cfg, ledger

    def expand(self, docs):
        # docs: PCollection[Document] -> kept, scrubbed Documents (drops and errors go to the ledger)
        kept = docs | "Scrub" >> ApplyFilter(STAGE, functools.partial(PiiStep, self._cfg), self._ledger,
                                             batch_size=self._cfg.batch_size,
                                             histograms=(("pii_findings", "chars"),))
        # kept: PCollection[Document] -> StageStats with extra counts, one per bundle
        self._ledger.add_stats(kept | "CountEntities" >> beam.ParDo(_CountEntities()))
        return kept

"""ExactDedup: one survivor per group of documents with the same normalised text (and, optionally, URL).

Documents are keyed by a 128-bit hash of their normalised text (`dedup_text.exact_key`) and
grouped; the survivor is the member with the smallest survivor rank (priority, stable id hash,
id), never the first to arrive, so every runner and worker count keeps the same documents. The
survivor carries `cluster_id` (its own id) and `cluster_size` (how many input documents it
stands for); the others are dropped as `exact_duplicate` (or `url_duplicate`) with the
survivor's id as detail (this stage's survivor; a later stage, near dedup included, may still
drop it). A group is read twice from the grouped iterable (minimum, then decisions), so a worker
holds one group at a time, never the whole input.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from tokenmill.transforms.beam.dedup_common import FAILED, ClusterSizeStats, TappedDoFn, charged, kept_pair, with_cluster
from tokenmill.transforms.beam.stage import STATS, RecordOutcomes
from tokenmill.transforms.dedup import ExactDedupConfig
from tokenmill.transforms.dedup_text import exact_key, survivor_rank, tie_break, url_key
from tokenmill.transforms.document import Document, Drop, DropReason, ErrorKind, Failure

DROPPED_PAIRS, UNKEYED = "dropped_pairs", "unkeyed"


def text_key(doc: Document) -> str:
    return exact_key(doc.text)


def doc_url_key(doc: Document) -> str:
    return url_key(doc.url)


class _KeyDocs(TappedDoFn):
    """Document -> (key, document); an empty key bypasses the grouping, an exception fails the document."""

    def __init__(self, key_fn: Callable[[Document], str], stage: str):
        self._key_fn, self._stage = key_fn, stage

    @charged
    def process(self, doc: Document) -> Iterable[Any]:
        try:
            key = self._key_fn(doc)
        except Exception as err:  # one bad document must not fail the job; it is counted as an error
            yield beam.pvalue.TaggedOutput(FAILED, (doc, Failure(ErrorKind.INTERNAL, f"{type(err).__name__}: {err}")))
            return
        if key:
            yield key, doc
        else:
            yield beam.pvalue.TaggedOutput(UNKEYED, doc)


class _PickSurvivor(TappedDoFn):
    """(key, documents) -> the survivor (main) and (document, Drop) pairs for the others."""

    def __init__(self, reason: DropReason, priority: str, stage: str):
        self._reason, self._priority, self._stage = reason, priority, stage
        self._members = Metrics.distribution(f"stage.{stage}", "group_members")

    def _order(self, doc: Document) -> tuple:
        return survivor_rank(doc, self._priority), tie_break(doc)

    @charged
    def process(self, group: tuple[str, Iterable[Document]]) -> Iterable[Any]:
        _, docs = group
        best, best_order, members, weight = None, None, 0, 0
        for doc in docs:                       # pass 1: the minimum and the group's weight
            order = self._order(doc)
            members += 1
            weight += doc.cluster_size
            if best_order is None or order < best_order:
                best, best_order = doc, order
        self._members.update(members)
        if members == 1:
            yield with_cluster(best, best.id, best.cluster_size)
            return
        crowned = False
        for doc in docs:                       # pass 2: decisions (Beam iterables can be re-read)
            if not crowned and self._order(doc) == best_order:
                crowned = True
                yield with_cluster(doc, doc.id, weight)
            else:
                yield beam.pvalue.TaggedOutput(DROPPED_PAIRS, (doc, Drop(self._reason, best.id)))


class _DedupPass(beam.PTransform):
    """One keyed pass: returns (survivors and unkeyed documents, [dropped/failed pair collections],
    [stats collections])."""

    def __init__(self, name: str, key_fn: Callable[[Document], str], reason: DropReason, priority: str,
                 stage: str):
        super().__init__()
        self._name, self._key_fn, self._reason, self._priority, self._stage = name, key_fn, reason, priority, stage

    def expand(self, docs):
        n = self._name
        # docs: PCollection[Document] -> (key, Document), plus unkeyed docs and failures
        keyed = docs | f"KeyBy{n}" >> beam.ParDo(_KeyDocs(self._key_fn, self._stage)).with_outputs(
            FAILED, UNKEYED, STATS, main="keyed")
        # (key, Document) -> (key, Iterable[Document]) -> survivors + (Document, Drop)
        picked = (keyed.keyed
                  | f"GroupBy{n}" >> beam.GroupByKey()
                  | f"Pick{n}Survivors" >> beam.ParDo(_PickSurvivor(self._reason, self._priority, self._stage))
                  .with_outputs(DROPPED_PAIRS, STATS, main="kept"))
        survivors = (picked.kept, keyed[UNKEYED]) | f"Merge{n}Kept" >> beam.Flatten()
        return survivors, [picked[DROPPED_PAIRS], keyed[FAILED]], [keyed[STATS], picked[STATS]]


class ExactDedup(beam.PTransform):
    """PCollection[Document] -> kept documents; drops and stats go to the ledger (stage `exact_dedup`)."""

    def __init__(self, cfg: ExactDedupConfig, ledger, stage: str = "exact_dedup"):
        super().__init__()
        self._cfg, self._ledger, self._stage = cfg, ledger, stage

    def expand(self, docs):
        survivors, pairs, stats = docs | "TextPass" >> _DedupPass("Text", text_key, DropReason.EXACT_DUPLICATE,
                                                                   self._cfg.survivor, self._stage)
        if self._cfg.by_url:
            survivors, more, more_stats = survivors | "UrlPass" >> _DedupPass(
                "Url", doc_url_key, DropReason.URL_DUPLICATE, self._cfg.survivor, self._stage)
            pairs, stats = pairs + more, stats + more_stats
        # every input document ends as exactly one (document, outcome) pair
        kept_pairs = survivors | "KeptPairs" >> beam.Map(kept_pair)
        outcomes = tuple(pairs) + (kept_pairs,) | "AllOutcomes" >> beam.Flatten()
        kept = outcomes | "RecordOutcomes" >> RecordOutcomes(self._stage, self._ledger)
        stats.append(kept | "ClusterSizes" >> ClusterSizeStats(self._stage))
        self._ledger.add_stats(tuple(stats) | "FlattenStats" >> beam.Flatten())
        return kept

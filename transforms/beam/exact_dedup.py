"""ExactDedup: one survivor per group of documents with the same normalised text (and, optionally, URL).

Documents are keyed by a 128-bit hash of their normalised text (`dedup_text.exact_key`); the
survivor of a group is the member with the smallest survivor rank (priority, stable id hash, id,
then source, offset and text hash), never the first to arrive, so every runner and worker count
keeps the same documents. The survivor carries `cluster_id` (its own id) and `cluster_size` (how
many input documents it stands for); the others are dropped as `exact_duplicate` (or
`url_duplicate`) with the survivor's id as detail (this stage's survivor; a later stage, near
dedup included, may still drop it).

Documents never cross a shuffle (staging.py): they are staged to Parquet with their key, rank and
URL key; `SharedKeys` finds the text keys (and URL key hashes) that occur twice or more; only
documents with a shared key send a small record (rank, source, offset, text hash, sizes, file
row) to the grouping, and only their outcomes travel back to the staged files as decisions.
"""

from __future__ import annotations

from typing import Any, Iterable

import apache_beam as beam
import pyarrow as pa
import xxhash
from apache_beam.metrics import Metrics

from tokenmill.transforms.beam.dedup_common import ClusterSizeStats, charged
from tokenmill.transforms.beam.stage import STATS
from tokenmill.transforms.beam.staging import (DECISIONS, FILES, KEYS, ApplyDecisions, SharedKeys, SharedLookup,
                                               StagingDoFn, drop, fail, keep, read_rows, staging_dir)
from tokenmill.transforms.dedup import ExactDedupConfig
from tokenmill.transforms.dedup_text import exact_key, rank_id, survivor_rank, tie_break, url_key
from tokenmill.transforms.document import Document, DropReason, ErrorKind

TEXT, URL = "text", "url"
_COLUMNS = [("x_text_key", pa.string()), ("x_url_key", pa.string()), ("x_rank", pa.string()),
            ("x_tie", pa.string()), ("x_error", pa.string())]


def url_hash(key: str) -> bytes:
    """16 bytes standing for a URL key in SharedKeys (a collision only sends more records to the grouping)."""
    return xxhash.xxh3_128_digest(key.encode("utf-8"))


class _StageExact(StagingDoFn):
    """Document -> staged row with its text key, URL key, rank and tie-break; failures as decisions."""

    def __init__(self, cfg: ExactDedupConfig, stage: str, directory: str):
        super().__init__(stage, directory, _COLUMNS)
        self._cfg = cfg

    @charged
    def process(self, doc: Document) -> Iterable[Any]:
        try:
            key = exact_key(doc.text)
            url, url_error = "", ""
            if self._cfg.by_url:
                try:
                    url = url_key(doc.url)
                except Exception as err:  # the URL pass fails this document (if it survives the text pass)
                    url_error = f"{type(err).__name__}: {err}"
            rank, tie = survivor_rank(doc, self._cfg.survivor), tie_break(doc)[2]
        except Exception as err:  # one bad document must not fail the job; it is counted as an error
            token, row = self._stage_doc(doc, {})
            yield beam.pvalue.TaggedOutput(DECISIONS, (token, fail(row, ErrorKind.INTERNAL,
                                                                   f"{type(err).__name__}: {err}")))
            yield from self._finished_file()
            return
        keys = {TEXT: [bytes.fromhex(key)]}
        if url:
            keys[URL] = [url_hash(url)]
        self._stage_doc(doc, keys, x_text_key=key, x_url_key=url, x_rank=rank, x_tie=tie, x_error=url_error)
        yield from self._finished_file()


# A grouping record: (rank, source, offset, text hash, own cluster_size, weight, token, row, url key,
# url error); the first four are the survivor order, weight the input documents it stands for.
ORDER = slice(0, 4)


class _Candidates(beam.DoFn):
    """(token, path) + shared keys -> (text key, record) for shared texts; (url key, record) for
    unshared texts whose URL key is shared (they are their text's survivor)."""

    def __init__(self, by_url: bool):
        self._by_url, self._lookup = by_url, SharedLookup()

    def process(self, file: tuple[str, str], shared: list) -> Iterable[Any]:
        token, path = file
        self._lookup.update(shared)
        columns = ["source", "offset", "cluster_size", "x_text_key", "x_url_key", "x_rank", "x_tie", "x_error"]
        rows = [r for r in enumerate(read_rows(path, columns)) if r[1]["x_rank"] is not None]
        text_shared = self._lookup.contains(TEXT, [bytes.fromhex(r["x_text_key"]) for _, r in rows])
        url_shared = self._lookup.contains(URL, [url_hash(r["x_url_key"] or "") for _, r in rows])
        for (row, r), text, url in zip(rows, text_shared, url_shared):
            record = (r["x_rank"], r["source"], r["offset"], r["x_tie"], r["cluster_size"], r["cluster_size"],
                      token, row, r["x_url_key"], r["x_error"])
            if text:
                yield beam.pvalue.TaggedOutput(TEXT, (r["x_text_key"], record))
            elif self._by_url and r["x_error"]:
                yield beam.pvalue.TaggedOutput(DECISIONS, (token, fail(row, ErrorKind.INTERNAL, r["x_error"])))
            elif self._by_url and r["x_url_key"] and url:
                yield beam.pvalue.TaggedOutput(URL, (r["x_url_key"], record))


class _PickSurvivor(beam.DoFn):
    """(key, records) -> (token, decision) for the group; with `url_pass`, the survivor moves on to the URL
    pass (when its URL key is shared) instead of being decided here."""

    def __init__(self, reason: DropReason, stage: str, url_pass: bool):
        self._reason, self._stage, self._url_pass = reason, stage, url_pass
        self._lookup = SharedLookup()

    def setup(self) -> None:
        self._members = Metrics.distribution(f"stage.{self._stage}", "group_members")

    def process(self, group: tuple[str, Iterable[tuple]], shared: list | None = None) -> Iterable[Any]:
        _, records = group
        records = list(records)            # small records of one group
        self._members.update(len(records))
        best = min(records, key=lambda r: r[ORDER])
        weight = sum(r[5] for r in records)
        for r in records:
            if r is not best:
                yield r[6], drop(r[7], self._reason, rank_id(best[0]))
        survivor = best[:5] + (weight,) + best[6:]
        if self._url_pass and survivor[9]:
            yield survivor[6], fail(survivor[7], ErrorKind.INTERNAL, survivor[9])
            return
        if self._url_pass and survivor[8]:
            self._lookup.update(shared)
            if self._lookup.contains(URL, [url_hash(survivor[8])])[0]:
                yield beam.pvalue.TaggedOutput(URL, (survivor[8], survivor))
                return
        if weight != survivor[4]:
            yield survivor[6], keep(survivor[7], weight)


class ExactDedup(beam.PTransform):
    """PCollection[Document] -> kept documents; drops and stats go to the ledger (stage `exact_dedup`)."""

    def __init__(self, cfg: ExactDedupConfig, ledger, stage: str = "exact_dedup"):
        super().__init__()
        self._cfg, self._ledger, self._stage = cfg, ledger, stage
        self._dir = staging_dir(ledger.out_dir, stage)

    def expand(self, docs):
        cfg, stage = self._cfg, self._stage
        # Document -> staged rows; tagged (token, path) per file, (kind:partition, packed keys), failures
        staged = docs | "StageDocs" >> beam.ParDo(_StageExact(cfg, stage, self._dir)).with_outputs(
            FILES, KEYS, DECISIONS, STATS, main="none")
        # packed keys -> (kind, packed keys seen twice or more), a side input
        shared = beam.pvalue.AsList(staged[KEYS] | "SharedKeys" >> SharedKeys())
        # (token, path) -> (text key, record) for shared texts, (url key, record) for shared URLs
        candidates = staged[FILES] | "FindCandidates" >> beam.ParDo(_Candidates(cfg.by_url), shared).with_outputs(
            TEXT, URL, DECISIONS, main="none")
        # text key: [record] -> decisions; survivors with a shared URL key -> (url key, record)
        text = (candidates[TEXT]
                | "GroupByText" >> beam.GroupByKey()
                | "PickTextSurvivors" >> beam.ParDo(_PickSurvivor(DropReason.EXACT_DUPLICATE, stage, cfg.by_url),
                                                    shared).with_outputs(URL, main="decisions"))
        decisions = [staged[DECISIONS], candidates[DECISIONS], text.decisions]
        if cfg.by_url:
            # url key: [record] -> decisions
            decisions.append((candidates[URL], text[URL])
                             | "MergeUrlCandidates" >> beam.Flatten()
                             | "GroupByUrl" >> beam.GroupByKey()
                             | "PickUrlSurvivors" >> beam.ParDo(_PickSurvivor(DropReason.URL_DUPLICATE, stage, False)))
        # (token, decision) for every document not kept as its own cluster
        decided = tuple(decisions) | "AllDecisions" >> beam.Flatten()
        self._ledger.add_stats(staged[STATS])
        kept = {"file": staged[FILES], "decision": decided} | "ApplyDecisions" >> ApplyDecisions(
            stage, self._ledger, self._dir)
        self._ledger.add_stats(kept | "ClusterSizes" >> ClusterSizeStats(stage))
        return kept

"""NearDedup: MinHash LSH candidates, connected components and one survivor per component, in Beam.

The chain (FineWeb's method, with the clustering moved into the pipeline); documents never cross
a shuffle: they wait in staged Parquet files (staging.py) while ranks, keys and labels travel.
1. `Sign`: vectorised MinHash signatures in batches (`minhash.MinHasher`, identical to datasketch);
   each document is staged with its survivor rank and its LSH band keys; the band keys and a hash
   of the rank go, packed per file, to `SharedKeys`, which keeps those seen twice or more.
2. `FindCandidates`: each staged file's small columns are read again; only documents with a shared
   band key or a shared rank (a repeated id) emit (band key, rank) for their shared bands and
   (rank, file row). A band key seen once is a bucket of one: it could never make an edge.
3. `GroupBands`, `BucketEdges`: band keys through GroupByKey; a bucket becomes edges to its
   smallest member (linear in its size), or, when verifying, all pairs of buckets up to
   `bucket_pair_cap` members (larger ones still link to their minimum: no quadratic blow-up).
4. `VerifyEdges` (optional): two joins attach both signatures to each distinct candidate pair;
   pairs below the threshold are dropped.
5. `ConnectedComponents`: large-star / small-star rounds (components.py).
6. `Decide`, `Crown`: file rows join their labels; a row whose label is its own rank survives, one
   whose label is another rank is dropped as `near_duplicate` with the survivor's id as detail;
   survivors learn their cluster size from a small per-label sum. Documents in no edge get no
   decision and are kept as singletons. `cluster_size` counts input documents: a member that
   survived exact dedup for k copies counts k.
7. `ApplyDecisions`: each staged file is read back with its decisions; every document ends as one
   (document, outcome) pair into `RecordOutcomes`, so the report's accounting holds; bucket, edge,
   round and cluster-size figures go to the same stage's stats.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

import apache_beam as beam
import numpy as np
import pyarrow as pa
import xxhash

from tokenmill.transforms.beam.components import ConnectedComponents
from tokenmill.transforms.beam.dedup_common import ClusterSizeStats, TappedDoFn, charged, facts
from tokenmill.transforms.beam.stage import STATS
from tokenmill.transforms.beam.staging import (DECISIONS, FILES, KEYS, ApplyDecisions, SharedKeys, SharedLookup,
                                               StagingDoFn, drop, fail, keep, read_rows, staging_dir)
from tokenmill.transforms.dedup import NearDedupConfig, pair_edges, star_edges
from tokenmill.transforms.dedup_text import rank_id, survivor_rank
from tokenmill.transforms.document import Document, DropReason, ErrorKind, Failure
from tokenmill.transforms.minhash import MinHasher, band_keys, estimated_jaccard

BANDS, SIGS, SURVIVORS, WEIGHTS, REFS = "bands", "sigs", "survivors", "weights", "refs"
BAND, RANK = "band", "rank"        # key kinds in SharedKeys
BAND_KEY = 18                      # bytes per band key (minhash.band_keys)
_COLUMNS = [("x_rank", pa.string()), ("x_bands", pa.binary()), ("x_sig", pa.binary())]


class Sign(StagingDoFn):
    """Document -> staged row with its rank, packed band keys and (when verifying) signature;
    band keys and a hash of the rank go to SharedKeys; failures leave as decisions."""

    def __init__(self, cfg: NearDedupConfig, stage: str, directory: str):
        super().__init__(stage, directory, _COLUMNS)
        self._cfg = cfg

    def setup(self) -> None:
        cfg = self._cfg
        self._hasher = MinHasher(cfg.num_perm, cfg.seed, cfg.ngram, cfg.max_chars)
        self._bands, self._rows = cfg.lsh_params()

    def start_bundle(self) -> None:
        super().start_bundle()
        self._batch: list[Document] = []

    @charged
    def process(self, doc: Document) -> Iterable[Any]:
        self._batch.append(doc)
        if len(self._batch) >= self._cfg.batch_size:
            yield from self._flush()

    def _pending(self) -> Iterable[Any]:
        yield from self._flush()
        yield from self._close_file()

    def _signatures(self, docs: list[Document]) -> list[tuple[np.ndarray, int] | Failure]:
        try:
            sigs, counts = self._hasher.signatures([d.text for d in docs])
            return list(zip(sigs, counts.tolist()))
        except Exception:  # isolate the document that breaks the batch
            return [self._one(d) for d in docs]

    def _one(self, doc: Document) -> tuple[np.ndarray, int] | Failure:
        try:
            sigs, counts = self._hasher.signatures([doc.text])
            return sigs[0], int(counts[0])
        except Exception as err:  # one bad document must not fail the job; it is counted as an error
            return Failure(ErrorKind.INTERNAL, f"{type(err).__name__}: {err}")

    def _flush(self) -> Iterable[Any]:
        docs, self._batch = self._batch, []
        if not docs:
            return
        cfg = self._cfg
        started = time.perf_counter()
        results = self._signatures(docs)
        keys = [band_keys(r[0], self._bands, self._rows) if not isinstance(r, Failure) and r[1] else []
                for r in results]
        self._tap.count("sign_seconds", time.perf_counter() - started)   # signatures and band keys
        for doc, result, doc_keys in zip(docs, results, keys):
            if isinstance(result, Failure):
                token, row = self._stage_doc(doc, {})
                yield beam.pvalue.TaggedOutput(DECISIONS, (token, fail(row, result.kind, result.detail)))
                yield from self._finished_file()
                continue
            sig, n_shingles = result
            rank = survivor_rank(doc, cfg.survivor)
            self._tap.count("signatures")
            if cfg.max_chars and len(doc.text) > cfg.max_chars:
                self._tap.count("docs_capped")
            if not n_shingles:               # no words: nothing to compare, stays a singleton
                self._tap.count("docs_without_shingles")
            self._stage_doc(doc, {BAND: doc_keys, RANK: [rank_hash(rank)]}, x_rank=rank, x_bands=b"".join(doc_keys),
                            x_sig=sig.tobytes() if cfg.verify and n_shingles else None)
            yield from self._finished_file()


def rank_hash(rank: str) -> bytes:
    """16 bytes standing for a rank in SharedKeys: documents with the same id share a rank (a node)."""
    return xxhash.xxh3_128_digest(rank.encode("utf-8"))


class _Candidates(beam.DoFn):
    """(token, path) + shared keys -> for documents with a shared band key or rank: (rank, ref) on
    REFS, (band key, rank) per shared band on BANDS and, when verifying, (rank, signature) on SIGS."""

    def __init__(self, verify: bool):
        self._verify, self._lookup = verify, SharedLookup()

    def process(self, file: tuple[str, str], shared: list) -> Iterable[Any]:
        token, path = file
        self._lookup.update(shared)
        rows = [r for r in enumerate(read_rows(path, ["cluster_size", "x_rank", "x_bands", "x_sig"]))
                if r[1]["x_rank"] is not None]
        ranks = self._lookup.contains(RANK, [rank_hash(r["x_rank"]) for _, r in rows])
        bands = [[r["x_bands"][i:i + BAND_KEY] for i in range(0, len(r["x_bands"]), BAND_KEY)] for _, r in rows]
        flat = self._lookup.contains(BAND, [k for keys in bands for k in keys])
        at = 0
        for (row, r), rank_shared, keys in zip(rows, ranks, bands):
            mask, at = flat[at:at + len(keys)], at + len(keys)
            if not (rank_shared or mask.any()):
                continue
            rank = r["x_rank"]
            yield beam.pvalue.TaggedOutput(REFS, (rank, (token, row, r["cluster_size"])))
            for key, is_shared in zip(keys, mask):
                if is_shared:
                    yield beam.pvalue.TaggedOutput(BANDS, (key, rank))
            if self._verify and r["x_sig"] is not None:
                yield beam.pvalue.TaggedOutput(SIGS, (rank, r["x_sig"]))


class _BucketEdges(TappedDoFn):
    """(band key, ranks) -> candidate edges (larger, smaller)."""

    def __init__(self, stage: str, verify: bool, pair_cap: int):
        self._stage, self._verify, self._pair_cap = stage, verify, pair_cap

    @charged
    def process(self, bucket: tuple[bytes, Iterable[str]]) -> Iterable[tuple[str, str]]:
        _, ranks = bucket
        members = set(ranks)
        if len(members) < 2:
            return []
        self._tap.distribution("bucket_members", len(members))
        self._tap.count("lsh_shared_buckets")
        if self._verify and len(members) <= self._pair_cap:
            edges = pair_edges(members)
        else:
            if self._verify:
                self._tap.count("lsh_oversized_buckets")
            edges = star_edges(members)
        self._tap.count("lsh_candidate_edges", len(edges))
        return edges


def _attach_smaller_signature(joined: tuple[str, dict]) -> Iterable[tuple[str, tuple[str, bytes]]]:
    smaller, parts = joined
    sig = next(iter(parts["sig"]), None)
    if sig is not None:
        for larger in parts["edge"]:
            yield larger, (smaller, sig)


class _CheckPair(TappedDoFn):
    """(larger, {sig, half: [(smaller, smaller's signature)]}) -> verified edges (larger, smaller)."""

    def __init__(self, stage: str, threshold: float):
        self._stage, self._threshold = stage, threshold

    @charged
    def process(self, joined: tuple[str, dict]) -> Iterable[tuple[str, str]]:
        larger, parts = joined
        sig_bytes = next(iter(parts["sig"]), None)
        if sig_bytes is None:
            return
        sig = np.frombuffer(sig_bytes, dtype=np.uint64)
        for smaller, other in parts["half"]:
            if estimated_jaccard(sig, np.frombuffer(other, dtype=np.uint64)) >= self._threshold:
                self._tap.count("verified_edges")
                yield larger, smaller
            else:
                self._tap.count("rejected_edges")


class VerifyEdges(beam.PTransform):
    """Keeps candidate edges whose signatures' estimated Jaccard reaches `threshold`."""

    def __init__(self, stage: str, threshold: float, sigs):
        super().__init__()
        self._stage, self._threshold, self._sigs = stage, threshold, sigs

    def expand(self, edges):
        # (larger, smaller) candidates, each once -> keyed by smaller
        by_smaller = (edges
                      | "DistinctCandidates" >> beam.Distinct()
                      | "KeyBySmaller" >> beam.Map(lambda e: (e[1], e[0])))
        # smaller: {sig, edge: [larger...]} -> (larger, (smaller, smaller's signature))
        halves = ({"sig": self._sigs, "edge": by_smaller}
                  | "JoinSmallerSignature" >> beam.CoGroupByKey()
                  | "AttachSmallerSignature" >> beam.FlatMap(_attach_smaller_signature))
        # larger: {sig, half: [...]} -> verified (larger, smaller)
        checked = ({"sig": self._sigs, "half": halves}
                   | "JoinLargerSignature" >> beam.CoGroupByKey()
                   | "CheckPairs" >> beam.ParDo(_CheckPair(self._stage, self._threshold))
                   .with_outputs(STATS, main="edges"))
        return checked.edges, checked[STATS]


class _Decide(TappedDoFn):
    """(rank, {ref: [(token, row, cluster_size)], label: [rank]}) -> drop decisions; survivors and
    weights tagged. A rank in no edge has no label: its documents keep the default decision."""

    def __init__(self, stage: str):
        self._stage = stage

    @charged
    def process(self, joined: tuple[str, dict]) -> Iterable[Any]:
        rank, parts = joined
        labels = list(parts["label"])
        if not labels:
            return
        label = labels[0]
        for token, row, cluster_size in parts["ref"]:
            yield beam.pvalue.TaggedOutput(WEIGHTS, (label, (1, cluster_size)))
            if label == rank:
                yield beam.pvalue.TaggedOutput(SURVIVORS, (label, (token, row, cluster_size)))
            else:
                yield token, drop(row, DropReason.NEAR_DUPLICATE, rank_id(label))


class _SumPairs(beam.CombineFn):
    """Sums (members, weight) pairs: a component's node count and the input documents it stands for."""

    def create_accumulator(self):
        return 0, 0

    def add_input(self, acc, value):
        return acc[0] + value[0], acc[1] + value[1]

    def merge_accumulators(self, accs):
        return sum(a[0] for a in accs), sum(a[1] for a in accs)

    def extract_output(self, acc):
        return acc


class _Crown(TappedDoFn):
    """(label, {ref: [survivor ref], size: [(members, weight)]}) -> keep decisions with the cluster size."""

    def __init__(self, stage: str):
        self._stage = stage

    @charged
    def process(self, joined: tuple[str, dict]) -> Iterable[Any]:
        _, parts = joined
        sizes = next(iter(parts["size"]), None)
        for token, row, cluster_size in parts["ref"]:
            members, weight = sizes if sizes is not None else (1, cluster_size)
            self._tap.observe_size("component_docs", members)
            yield token, keep(row, weight)


class NearDedup(beam.PTransform):
    """PCollection[Document] -> kept documents; drops and stats go to the ledger (stage `near_dedup`)."""

    def __init__(self, cfg: NearDedupConfig, ledger, stage: str = "near_dedup"):
        super().__init__()
        self._cfg, self._ledger, self._stage = cfg, ledger, stage

    def expand(self, docs):
        cfg, stage, directory = self._cfg, self._stage, staging_dir(self._ledger.out_dir, self._stage)
        bands, rows = cfg.lsh_params()
        # Document -> staged rows; tagged (token, path) per file, (kind:partition, packed keys), failures
        signed = docs | "Sign" >> beam.ParDo(Sign(cfg, stage, directory)).with_outputs(
            FILES, KEYS, DECISIONS, STATS, main="none")
        # packed band keys and rank hashes -> (kind, packed keys seen twice or more), a side input
        shared = beam.pvalue.AsList(signed[KEYS] | "SharedKeys" >> SharedKeys())
        # (token, path) -> (rank, ref), (band key, rank), (rank, signature) of documents with a shared key
        found = signed[FILES] | "FindCandidates" >> beam.ParDo(_Candidates(cfg.verify), shared).with_outputs(
            REFS, BANDS, SIGS, main="none")
        # (band key, rank) -> (band key, [rank]) -> candidate edges (larger rank, smaller rank)
        buckets = (found[BANDS]
                   | "GroupBands" >> beam.GroupByKey()
                   | "BucketEdges" >> beam.ParDo(_BucketEdges(stage, cfg.verify, cfg.bucket_pair_cap))
                   .with_outputs(STATS, main="edges"))
        edges, stats = buckets.edges, [signed[STATS], buckets[STATS]]
        if cfg.verify:
            edges, verify_stats = edges | "VerifyEdges" >> VerifyEdges(stage, cfg.similarity_threshold(), found[SIGS])
            stats.append(verify_stats)
        # edges -> (rank, smallest rank of its component) for every rank in an edge
        components = edges | "Components" >> ConnectedComponents(stage, cfg.max_rounds)
        # rank: {ref, label} -> (token, drop decision); survivors and (label, (1, weight)) tagged
        decided = ({"ref": found[REFS], "label": components["labels"]}
                   | "JoinLabels" >> beam.CoGroupByKey()
                   | "Decide" >> beam.ParDo(_Decide(stage)).with_outputs(SURVIVORS, WEIGHTS, STATS, main="drops"))
        # label: (members, weight) summed -> joined with the survivor -> (token, keep decision)
        sizes = decided[WEIGHTS] | "ComponentSizes" >> beam.CombinePerKey(_SumPairs())
        crowned = ({"ref": decided[SURVIVORS], "size": sizes}
                   | "JoinSizes" >> beam.CoGroupByKey()
                   | "Crown" >> beam.ParDo(_Crown(stage)).with_outputs(STATS, main="keeps"))
        # (token, decision) for every document not kept as its own cluster -> staged files read back
        decisions = (signed[DECISIONS], decided.drops, crowned.keeps) | "AllDecisions" >> beam.Flatten()
        kept = {"file": signed[FILES], "decision": decisions} | "ApplyDecisions" >> ApplyDecisions(
            stage, self._ledger, directory, singleton_stat="component_docs")
        params = facts(docs.pipeline, "Params", stage, {"lsh_bands": bands, "lsh_rows": rows,
                                                        "cc_max_rounds": cfg.max_rounds})
        stats += [components["stats"], decided[STATS], crowned[STATS], params,
                  kept | "ClusterSizes" >> ClusterSizeStats(stage)]
        self._ledger.add_stats(tuple(stats) | "FlattenStats" >> beam.Flatten())
        return kept

"""NearDedup: MinHash LSH candidates, connected components and one survivor per component, in Beam.

The chain (FineWeb's method, with the clustering moved into the pipeline):
1. `Sign`: vectorised MinHash signatures in batches (`minhash.MinHasher`, identical to datasketch);
   each document is keyed by its survivor rank and emits one key per LSH band.
2. `GroupBands`, `BucketEdges`: band keys through GroupByKey; a bucket becomes edges to its
   smallest member (linear in its size), or, when verifying, all pairs of buckets up to
   `bucket_pair_cap` members (larger ones still link to their minimum: no quadratic blow-up).
3. `VerifyEdges` (optional): two joins attach both signatures to each distinct candidate pair;
   pairs below the threshold are dropped.
4. `ConnectedComponents`: large-star / small-star rounds (components.py).
5. `Decide`: documents join their labels; a document whose label is itself survives, one whose label
   is another rank is dropped as `near_duplicate` with the survivor's id as detail; survivors learn
   their cluster size from a small per-label sum. Documents in no edge are kept as singletons.
   `cluster_size` counts input documents: a member that survived exact dedup for k copies counts k.
Every document ends as one (document, outcome) pair into `RecordOutcomes`, so the report's
accounting holds; bucket, edge, round and cluster-size figures go to the same stage's stats.
"""

from __future__ import annotations

from typing import Any, Iterable

import apache_beam as beam
import numpy as np

from tokenmill.transforms.beam.components import ConnectedComponents
from tokenmill.transforms.beam.dedup_common import (FAILED, ClusterSizeStats, StatsTap, TappedDoFn, charged, facts,
                                                     kept_pair, with_cluster)
from tokenmill.transforms.beam.stage import STATS, RecordOutcomes, cpu_clock, in_global_window
from tokenmill.transforms.dedup import NearDedupConfig, pair_edges, star_edges
from tokenmill.transforms.dedup_text import rank_id, survivor_rank
from tokenmill.transforms.document import Document, Drop, DropReason, ErrorKind, Failure
from tokenmill.transforms.minhash import MinHasher, band_keys, estimated_jaccard

BANDS, SIGS, SURVIVORS, WEIGHTS = "bands", "sigs", "survivors", "weights"


class Sign(beam.DoFn):
    """Document -> (rank, document); tagged (band key, rank) per band and, when verifying, (rank, signature)."""

    def __init__(self, cfg: NearDedupConfig, stage: str):
        self._cfg, self._stage = cfg, stage

    def setup(self) -> None:
        cfg = self._cfg
        self._hasher = MinHasher(cfg.num_perm, cfg.seed, cfg.ngram, cfg.max_chars)
        self._bands, self._rows = cfg.lsh_params()

    def start_bundle(self) -> None:
        self._batch: list[Document] = []
        self._tap = StatsTap(self._stage)

    def process(self, doc: Document) -> Iterable[Any]:
        started = cpu_clock()
        self._batch.append(doc)
        outputs = list(self._flush()) if len(self._batch) >= self._cfg.batch_size else []
        self._tap.stats.seconds += cpu_clock() - started
        return outputs

    def finish_bundle(self) -> Iterable[Any]:
        started = cpu_clock()
        outputs = [beam.pvalue.TaggedOutput(item.tag, in_global_window(item.value))
                   if isinstance(item, beam.pvalue.TaggedOutput) else in_global_window(item) for item in self._flush()]
        self._tap.stats.seconds += cpu_clock() - started
        yield from outputs
        yield from self._tap.flush()

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
        started = cpu_clock()
        results = self._signatures(docs)
        keys = [band_keys(r[0], self._bands, self._rows) if not isinstance(r, Failure) and r[1] else []
                for r in results]
        self._tap.count("sign_seconds", cpu_clock() - started)   # signatures and band keys, CPU s
        for doc, result, doc_keys in zip(docs, results, keys):
            if isinstance(result, Failure):
                yield beam.pvalue.TaggedOutput(FAILED, (doc, result))
                continue
            sig, n_shingles = result
            rank = survivor_rank(doc, cfg.survivor)
            yield rank, doc
            self._tap.count("signatures")
            if cfg.max_chars and len(doc.text) > cfg.max_chars:
                self._tap.count("docs_capped")
            if not n_shingles:               # no words: nothing to compare, stays a singleton
                self._tap.count("docs_without_shingles")
                continue
            for key in doc_keys:
                yield beam.pvalue.TaggedOutput(BANDS, (key, rank))
            if cfg.verify:
                yield beam.pvalue.TaggedOutput(SIGS, (rank, sig.tobytes()))


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
    """(rank, {doc: [Document], label: [rank]}) -> outcome pairs; survivors and weights tagged."""

    def __init__(self, stage: str):
        self._stage = stage

    @charged
    def process(self, joined: tuple[str, dict]) -> Iterable[Any]:
        rank, parts = joined
        labels = list(parts["label"])
        for doc in parts["doc"]:
            if not labels:                                   # in no edge: a cluster of its own
                self._tap.observe_size("component_docs", 1)
                yield kept_pair(with_cluster(doc, doc.id, doc.cluster_size))
                continue
            label = labels[0]
            yield beam.pvalue.TaggedOutput(WEIGHTS, (label, (1, doc.cluster_size)))
            if label == rank:
                yield beam.pvalue.TaggedOutput(SURVIVORS, (label, doc))
            else:
                survivor = rank_id(label)
                yield doc, Drop(DropReason.NEAR_DUPLICATE, survivor)


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
    """(label, {doc: [survivor], size: [(members, weight)]}) -> (survivor, kept survivor with its cluster)."""

    def __init__(self, stage: str):
        self._stage = stage

    @charged
    def process(self, joined: tuple[str, dict]) -> Iterable[Any]:
        _, parts = joined
        sizes = next(iter(parts["size"]), None)
        for doc in parts["doc"]:
            members, weight = sizes if sizes is not None else (1, doc.cluster_size)
            self._tap.observe_size("component_docs", members)
            yield kept_pair(with_cluster(doc, doc.id, weight))


class NearDedup(beam.PTransform):
    """PCollection[Document] -> kept documents; drops and stats go to the ledger (stage `near_dedup`)."""

    def __init__(self, cfg: NearDedupConfig, ledger, stage: str = "near_dedup"):
        super().__init__()
        self._cfg, self._ledger, self._stage = cfg, ledger, stage

    def expand(self, docs):
        cfg, stage = self._cfg, self._stage
        bands, rows = cfg.lsh_params()
        # Document -> (rank, Document); tagged (band key, rank), (rank, signature bytes), failures
        signed = docs | "Sign" >> beam.ParDo(Sign(cfg, stage)).with_outputs(BANDS, SIGS, FAILED, STATS, main="docs")
        # (band key, rank) -> (band key, [rank]) -> candidate edges (larger rank, smaller rank)
        buckets = (signed[BANDS]
                   | "GroupBands" >> beam.GroupByKey()
                   | "BucketEdges" >> beam.ParDo(_BucketEdges(stage, cfg.verify, cfg.bucket_pair_cap))
                   .with_outputs(STATS, main="edges"))
        edges, stats = buckets.edges, [signed[STATS], buckets[STATS]]
        if cfg.verify:
            edges, verify_stats = edges | "VerifyEdges" >> VerifyEdges(stage, cfg.similarity_threshold(), signed[SIGS])
            stats.append(verify_stats)
        # edges -> (rank, smallest rank of its component) for every rank in an edge
        components = edges | "Components" >> ConnectedComponents(stage, cfg.max_rounds)
        # rank: {doc, label} -> outcome pairs; survivors and (label, (1, weight)) tagged
        decided = ({"doc": signed.docs, "label": components["labels"]}
                   | "JoinLabels" >> beam.CoGroupByKey()
                   | "Decide" >> beam.ParDo(_Decide(stage)).with_outputs(SURVIVORS, WEIGHTS, STATS, main="pairs"))
        # label: (members, weight) summed -> joined with the survivor -> kept survivor with its cluster
        sizes = decided[WEIGHTS] | "ComponentSizes" >> beam.CombinePerKey(_SumPairs())
        crowned = ({"doc": decided[SURVIVORS], "size": sizes}
                   | "JoinSizes" >> beam.CoGroupByKey()
                   | "Crown" >> beam.ParDo(_Crown(stage)).with_outputs(STATS, main="pairs"))
        outcomes = (decided.pairs, crowned.pairs, signed[FAILED]) | "AllOutcomes" >> beam.Flatten()
        kept = outcomes | "RecordOutcomes" >> RecordOutcomes(stage, self._ledger)
        params = facts(docs.pipeline, "Params", stage, {"lsh_bands": bands, "lsh_rows": rows,
                                                        "cc_max_rounds": cfg.max_rounds})
        stats += [components["stats"], decided[STATS], crowned[STATS], params,
                  kept | "ClusterSizes" >> ClusterSizeStats(stage)]
        self._ledger.add_stats(tuple(stats) | "FlattenStats" >> beam.Flatten())
        return kept

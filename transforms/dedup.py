"""Dedup stage configs and the pure graph steps of near dedup: bucket edges, star contractions.

Near dedup turns LSH buckets into a graph (an edge joins two documents that share a band) and
keeps one document per connected component. Every peer we know (datatrove, text-dedup,
NeMo-Curator) ends with a union-find on one machine; tokenmill computes the components inside the
pipeline with the large-star / small-star rounds of Kiveris et al., "Connected Components in
MapReduce and Beyond" (SoCC 2014): each step is a GroupByKey over edges where a node sees only its
own neighbours, so no worker ever holds the whole graph. Rounds converge in O(log^2 n) (few in
practice); the graph is unrolled for `max_rounds` rounds and each round counts the edges it changed.

Nodes are survivor ranks (`dedup_text.survivor_rank`), so "the smallest node of a component" is
the deterministic survivor. Edges are always written (larger, smaller).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

from tokenmill.transforms.minhash import optimal_bands_rows, s_curve_threshold

Priority = Literal["id_hash", "longest"]
Edge = tuple[str, str]

CLUSTER_SIZE_EDGES: tuple[float, ...] = (2, 3, 4, 5, 9, 17, 33, 65, 129, 257, 513, 1025, 4097, 16385, 65537)
"""Histogram bins for cluster sizes: 1, 2, 3, 4, 5-8, 9-16, ..., then coarser, over 65536."""


@dataclass(frozen=True)
class ExactDedupConfig:
    enabled: bool = True
    """Drop documents whose normalised text (lowercase, digit runs as 0, punctuation and spacing
    folded) equals another's; one survivor per group."""
    by_url: bool = False
    """Also keep only one document per URL (scheme and host lowercased, fragment dropped), after the
    text pass. Off by default: crawls revisit URLs whose content changed."""
    survivor: Priority = "id_hash"
    """Which member of a group survives: `id_hash` (smallest stable hash of the id) or `longest`
    (longest text, ties by id hash). Never arrival order."""


@dataclass(frozen=True)
class NearDedupConfig:
    enabled: bool = True
    """MinHash LSH near-duplicate removal with connected components."""
    ngram: int = 5
    """Shingle size in words (FineWeb: 5)."""
    num_perm: int = 112
    """MinHash permutations per signature (FineWeb: 112 = 14 bands x 8 rows)."""
    bands: int = 14
    """LSH bands (FineWeb: 14). Ignored when `threshold` is set."""
    rows: int = 8
    """Signature values per band (FineWeb: 8). Ignored when `threshold` is set."""
    threshold: float = 0.0
    """Jaccard similarity to aim at; when > 0, bands and rows are chosen by datasketch's optimal_param
    for `num_perm` (equal false positive and negative weights). 0: use bands x rows, whose S-curve
    midpoint (1/bands)**(1/rows) is the threshold (0.719 for 14 x 8)."""
    seed: int = 1
    """Seed of the shingle hash and of datasketch's permutations (FineWeb/datatrove: 1)."""
    max_chars: int = 100_000
    """Only the first max_chars characters are shingled, so a mega-document costs no more than
    a long one; 0 = no cap."""
    verify: bool = False
    """Keep an LSH candidate pair only if the signatures' estimated Jaccard reaches the threshold
    (fewer false positives; costs two joins of all signatures). FineWeb does not verify."""
    bucket_pair_cap: int = 32
    """When verifying, buckets with up to this many documents are expanded into all pairs; larger
    buckets link each member to the bucket's smallest member only (linear, not quadratic)."""
    max_rounds: int = 10
    """Large-star + small-star rounds unrolled in the graph; the report counts changed edges per
    round and nodes left unconverged (0 when the components are exact)."""
    survivor: Priority = "id_hash"
    """Which document of a component survives: `id_hash` (smallest stable id hash) or `longest`."""
    batch_size: int = 256
    """Documents per vectorised signature batch."""

    def __post_init__(self) -> None:
        checks = [
            (self.ngram >= 1, "ngram must be >= 1"),
            (1 <= self.num_perm <= 4096, "num_perm must be in 1..4096"),
            (0.0 <= self.threshold < 1.0, "threshold must be in [0, 1)"),
            (self.threshold > 0 or (self.bands >= 1 and self.rows >= 1), "bands and rows must be >= 1"),
            (self.threshold > 0 or self.bands * self.rows <= self.num_perm,
             f"bands x rows ({self.bands} x {self.rows}) exceeds num_perm ({self.num_perm})"),
            (self.max_chars >= 0, "max_chars must be >= 0"),
            (self.bucket_pair_cap >= 2, "bucket_pair_cap must be >= 2"),
            (self.max_rounds >= 1, "max_rounds must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def lsh_params(self) -> tuple[int, int]:
        """(bands, rows) in use."""
        if self.threshold > 0:
            return optimal_bands_rows(self.threshold, self.num_perm)
        return self.bands, self.rows

    def similarity_threshold(self) -> float:
        """The Jaccard similarity the configuration targets (and verification uses)."""
        return self.threshold if self.threshold > 0 else s_curve_threshold(*self.lsh_params())


def star_edges(members: Iterable[str]) -> list[Edge]:
    """Links every member of a bucket to its smallest member: as connected as all pairs, but linear."""
    distinct = set(members)
    if len(distinct) < 2:
        return []
    root = min(distinct)
    return [(v, root) for v in sorted(distinct) if v != root]


def pair_edges(members: Iterable[str]) -> list[Edge]:
    """All pairs of a (small) bucket, for verification: len*(len-1)/2 edges."""
    ordered = sorted(set(members))
    return [(v, u) for i, u in enumerate(ordered) for v in ordered[i + 1:]]


def large_star(node: str, neighbours: Iterable[str]) -> tuple[list[Edge], int]:
    """Links every neighbour larger than `node` to the smallest of node and its neighbours.
    Returns (edges, changes): changes counts edges moved away from `node` (0 if node is that minimum)."""
    nbrs = set(neighbours)
    nbrs.discard(node)
    root = min(nbrs | {node})
    edges = [(v, root) for v in sorted(nbrs) if v > node]
    return edges, (len(edges) if root != node else 0)


def small_star(node: str, smaller: Iterable[str]) -> tuple[list[Edge], int]:
    """Links `node` and its smaller neighbours to the smallest of them.
    Returns (edges, changes): changes counts smaller neighbours moved from node to that minimum."""
    lower = {v for v in smaller if v < node}
    if not lower:
        return [], 0
    root = min(lower)
    edges = [(v, root) for v in sorted(lower | {node}) if v != root]
    return edges, len(lower) - 1


def final_label(node: str, neighbours: Iterable[str]) -> tuple[str, bool]:
    """(label, settled) after the rounds: the label is the smallest of node and its neighbours.
    `settled` says the node is a star centre (no smaller neighbour) or a leaf (exactly one smaller
    neighbour and no larger): when every node is settled, every component is one star around its
    minimum and the labels are exact."""
    nbrs = set(neighbours)
    nbrs.discard(node)
    lower = [v for v in nbrs if v < node]
    label = min(lower, default=node)
    settled = not lower or (len(lower) == 1 and len(nbrs) == 1)
    return label, settled

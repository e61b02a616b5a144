"""ConnectedComponents: labels every node of an edge list with its component's smallest node, in Beam.

Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014): alternate large-star
(link each node's larger neighbours to its neighbourhood minimum) and small-star (link a node and
its smaller neighbours to their minimum). Each is one GroupByKey over edges, so a worker only ever
holds one node's neighbours. Beam batch graphs have no loops, so `max_rounds` rounds are unrolled;
once converged a round changes nothing and only passes the (star-shaped) edges through. Per round
the number of changed edges is counted (Beam metric and report extra `cc_round_NN_changes`);
after the rounds every node is labelled with the minimum of its closed neighbourhood, and nodes
that are not yet part of a star around their minimum are counted as `cc_unsettled_nodes`
(0 means the labels are exact components; otherwise more rounds are needed, and the labels are
still a valid partial merge: each node points to a smaller node of its own component).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Iterable

import apache_beam as beam

from tokenmill.transforms.beam.dedup_common import TappedDoFn, charged
from tokenmill.transforms.beam.stage import STATS
from tokenmill.transforms.dedup import final_label, large_star, small_star
from tokenmill.transforms.stats import StageStats

log = logging.getLogger("tokenmill")


def _both_directions(edge: tuple[str, str]) -> Iterable[tuple[str, str]]:
    yield edge
    yield edge[1], edge[0]


class _Star(TappedDoFn):
    """(node, neighbours) -> edges (larger, smaller) of one large-star or small-star step."""

    def __init__(self, kind: str, stage: str, round_no: int):
        self._step = large_star if kind == "large" else small_star
        self._stage, self._counter = stage, f"cc_round_{round_no:02d}_changes"

    def start_bundle(self) -> None:
        super().start_bundle()
        self._tap.count(self._counter, 0)

    @charged
    def process(self, group: tuple[str, Iterable[str]]) -> Iterable[tuple[str, str]]:
        node, neighbours = group
        neighbours = list(neighbours)
        self._tap.distribution("cc_neighbours", len(neighbours))
        edges, changes = self._step(node, neighbours)
        self._tap.count(self._counter, changes)
        return edges


class _Label(TappedDoFn):
    """(node, neighbours) -> (node, label) and the convergence counts."""

    def __init__(self, stage: str):
        self._stage = stage

    def start_bundle(self) -> None:
        super().start_bundle()
        self._tap.count("cc_unsettled_nodes", 0)

    @charged
    def process(self, group: tuple[str, Iterable[str]]) -> Iterable[tuple[str, str]]:
        node, neighbours = group
        label, settled = final_label(node, neighbours)
        self._tap.count("cc_nodes")
        if not settled:
            self._tap.count("cc_unsettled_nodes")
        yield node, label

    def finish_bundle(self) -> Iterable[Any]:
        unsettled = self._tap.stats.extra["cc_unsettled_nodes"]
        if unsettled:
            log.warning("stage %s: %d nodes did not converge; raise near_dedup.max_rounds", self._stage, unsettled)
        yield from self._tap.flush()


class ConnectedComponents(beam.PTransform):
    """PCollection[(larger, smaller) edges] -> {"labels": PCollection[(node, smallest node of its
    component)] for every node of an edge, "stats": PCollection[StageStats]}."""

    def __init__(self, stage: str, max_rounds: int):
        super().__init__()
        self._stage, self._max_rounds = stage, max_rounds

    def expand(self, edges):
        stats = []
        for r in range(1, self._max_rounds + 1):
            # edges (larger, smaller) -> both directions -> node: all neighbours -> large-star edges
            large = (edges
                     | f"Undirect{r}" >> beam.FlatMap(_both_directions)
                     | f"GroupNeighbours{r}" >> beam.GroupByKey()
                     | f"LargeStar{r}" >> beam.ParDo(_Star("large", self._stage, r)).with_outputs(STATS, main="edges"))
            # large-star edges keyed by their larger node -> node: smaller neighbours -> small-star edges
            small = (large.edges
                     | f"GroupSmaller{r}" >> beam.GroupByKey()
                     | f"SmallStar{r}" >> beam.ParDo(_Star("small", self._stage, r)).with_outputs(STATS, main="edges"))
            stats += [large[STATS], small[STATS]]
            edges = small.edges
        # star edges -> node: neighbours -> (node, label)
        labelled = (edges
                    | "UndirectFinal" >> beam.FlatMap(_both_directions)
                    | "GroupFinal" >> beam.GroupByKey()
                    | "Label" >> beam.ParDo(_Label(self._stage)).with_outputs(STATS, main="labels"))
        stats.append(labelled[STATS])
        # Every counter once at zero: a runner may start no bundle for an empty input (Spark does
        # not, the FnApiRunner and Flink do), and the report must name the same counters on each.
        zeros = Counter({f"cc_round_{r:02d}_changes": 0 for r in range(1, self._max_rounds + 1)})
        zeros["cc_unsettled_nodes"] = 0
        stats.append(edges.pipeline | "ZeroCounts" >> beam.Create([StageStats(self._stage, extra=zeros)]))
        return {"labels": labelled.labels, "stats": tuple(stats) | "FlattenStats" >> beam.Flatten()}

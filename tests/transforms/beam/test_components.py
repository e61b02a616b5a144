"""ConnectedComponents in Beam: exact components for chains, stars, cliques; convergence counters."""

import random

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tokenmill.transforms.beam.components import ConnectedComponents


def _union_find_minimum(edges):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return sorted((n, find(n)) for n in list(parent))


def _graph():
    rng = random.Random(7)
    edges = [(f"s{i:03d}", f"s{i - 1:03d}") for i in range(1, 40)]            # sorted chain: the slow case
    names = [f"r{rng.getrandbits(24):06x}" for _ in range(30)]
    edges += [(max(a, b), min(a, b)) for a, b in zip(names, names[1:])]      # chain in random order
    edges += [(f"t{i:02d}", "t00") for i in range(1, 25)]                    # star
    edges += [(f"u{i}", f"u{j}") for i in range(8) for j in range(i)]        # clique
    edges += [("v1", "v0"), ("v1", "v0")]                                    # a pair, twice
    return edges


def test_components_are_exact_and_converge():
    edges = _graph()
    with BeamTestPipeline() as p:
        result = p | beam.Create(edges) | ConnectedComponents("near_dedup", max_rounds=10)
        assert_that(result["labels"], equal_to(_union_find_minimum(edges)), label="Labels")
        unsettled = (result["stats"] | beam.Map(lambda s: s.extra.get("cc_unsettled_nodes", 0))
                     | beam.CombineGlobally(sum))
        assert_that(unsettled, equal_to([0]), label="Converged")
        nodes = result["stats"] | beam.Map(lambda s: s.extra.get("cc_nodes", 0)) | "Nodes" >> beam.CombineGlobally(sum)
        assert_that(nodes, equal_to([len(_union_find_minimum(edges))]), label="NodeCount")
        last = (result["stats"] | beam.Map(lambda s: s.extra.get("cc_round_10_changes", 0))
                | "Last" >> beam.CombineGlobally(sum))
        assert_that(last, equal_to([0]), label="LastRoundIdle")


def test_too_few_rounds_are_counted_and_still_point_inside_the_component():
    edges = [(f"s{i:03d}", f"s{i - 1:03d}") for i in range(1, 40)]
    with BeamTestPipeline() as p:
        result = p | beam.Create(edges) | ConnectedComponents("near_dedup", max_rounds=1)
        unsettled = (result["stats"] | beam.Map(lambda s: s.extra.get("cc_unsettled_nodes", 0))
                     | beam.CombineGlobally(sum))
        assert_that(unsettled, equal_to([37]), label="Unsettled")
        wrong = result["labels"] | beam.Filter(lambda kv: not kv[1] <= kv[0])
        assert_that(wrong, equal_to([]), label="LabelsAreSmallerMembers")

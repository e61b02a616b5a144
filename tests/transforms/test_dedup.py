"""Pure graph steps of near dedup (bucket edges, large/small star, labels) and the dedup configs."""

import random
from collections import defaultdict

import pytest

from tokenmill.pipelines.config import load_config
from tokenmill.transforms.dedup import (NearDedupConfig, final_label, large_star, pair_edges, small_star,
                                        star_edges)
from tokenmill.transforms.typed_config import ConfigError


def test_bucket_edges():
    assert star_edges(["c", "a", "b", "a"]) == [("b", "a"), ("c", "a")]
    assert star_edges(["a", "a"]) == []
    assert pair_edges(["c", "a", "b"]) == [("b", "a"), ("c", "a"), ("c", "b")]
    assert len(pair_edges([str(i) for i in range(10)])) == 45


@pytest.mark.parametrize("node, neighbours, edges, changes", [
    ("c", ["a", "d", "e"], [("d", "a"), ("e", "a")], 2),      # larger neighbours move to the minimum
    ("a", ["b", "c"], [("b", "a"), ("c", "a")], 0),           # node is the minimum: nothing moves
    ("e", ["a", "b"], [], 0),                                 # no larger neighbour
    ("b", ["b", "c"], [("c", "b")], 0),                       # a self loop is ignored
])
def test_large_star(node, neighbours, edges, changes):
    assert large_star(node, neighbours) == (edges, changes)


@pytest.mark.parametrize("node, smaller, edges, changes", [
    ("e", ["b", "c", "a"], [("b", "a"), ("c", "a"), ("e", "a")], 2),
    ("e", ["a"], [("e", "a")], 0),
    ("e", ["a", "a"], [("e", "a")], 0),
    ("a", [], [], 0),
])
def test_small_star(node, smaller, edges, changes):
    assert small_star(node, smaller) == (edges, changes)


@pytest.mark.parametrize("node, neighbours, label, settled", [
    ("a", ["b", "c"], "a", True),        # star centre
    ("c", ["a"], "a", True),             # leaf
    ("c", ["a", "b"], "a", False),       # two smaller neighbours: not a star yet
    ("b", ["a", "c"], "a", False),       # smaller and larger neighbours: a path, not a star
])
def test_final_label(node, neighbours, label, settled):
    assert final_label(node, neighbours) == (label, settled)


def _rounds(edges, max_rounds):
    """The Beam graph of components.py, run in plain Python: returns (labels, changes per round)."""
    history = []
    for _ in range(max_rounds):
        nbrs = defaultdict(list)
        for a, b in edges:
            nbrs[a].append(b)
            nbrs[b].append(a)
        large, changed = [], 0
        for node, ns in nbrs.items():
            out, c = large_star(node, ns)
            large += out
            changed += c
        smaller = defaultdict(list)
        for a, b in large:
            smaller[a].append(b)
        edges = []
        for node, ns in smaller.items():
            out, c = small_star(node, ns)
            edges += out
            changed += c
        history.append(changed)
    nbrs = defaultdict(list)
    for a, b in edges:
        nbrs[a].append(b)
        nbrs[b].append(a)
    return {n: final_label(n, ns) for n, ns in nbrs.items()}, history


def _union_find_minimum(edges):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in list(parent)}


@pytest.mark.parametrize("seed", range(30))
def test_rounds_find_the_components_of_random_graphs(seed):
    rng = random.Random(seed)
    n = rng.randrange(2, 300)
    names = [f"{rng.getrandbits(32):08x}" for _ in range(n)]
    edges = [(names[rng.randrange(n)], names[rng.randrange(n)]) for _ in range(rng.randrange(1, n))]
    chain = [(names[i], names[i + 1]) for i in range(min(n - 1, 100))]        # a long path too
    edges = [(max(a, b), min(a, b)) for a, b in edges + chain if a != b]
    labels, history = _rounds(edges, 10)
    truth = _union_find_minimum(edges)
    assert {n: lab for n, (lab, _) in labels.items()} == truth
    assert all(settled for _, settled in labels.values())
    assert history[-1] == 0                                                      # converged: last round changed nothing


def test_too_few_rounds_leave_unsettled_nodes_pointing_inside_their_component():
    names = [f"{i:04d}" for i in range(200)]
    edges = [(names[i + 1], names[i]) for i in range(199)]                      # sorted path: the slow case
    labels, history = _rounds(edges, 2)
    assert history[-1] > 0
    assert any(not settled for _, settled in labels.values())
    assert all(label <= node for node, (label, _) in labels.items())            # always a smaller member


def test_near_dedup_config_params():
    assert NearDedupConfig().lsh_params() == (14, 8)
    assert NearDedupConfig().similarity_threshold() == pytest.approx(0.7190, abs=1e-4)
    # datasketch's optimal_param for a threshold (equal false positive / negative weights)
    assert NearDedupConfig(threshold=0.8).lsh_params() == (9, 12)
    assert NearDedupConfig(threshold=0.7).lsh_params() == (12, 9)
    assert NearDedupConfig(threshold=0.8).similarity_threshold() == 0.8


@pytest.mark.parametrize("override, message", [
    ("near_dedup.bands=15", "bands x rows (15 x 8) exceeds num_perm (112)"),
    ("near_dedup.threshold=1.5", "threshold must be in [0, 1)"),
    ("near_dedup.max_rounds=0", "max_rounds must be >= 1"),
    ("exact_dedup.survivor=first", "exact_dedup.survivor: must be one of"),
])
def test_bad_dedup_config_names_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_config("tiny", [override])


def test_presets_run_both_dedup_stages():
    for preset in ("default", "tiny"):
        cfg = load_config(preset)
        assert list(cfg.filters.order).index("exact_dedup") < list(cfg.filters.order).index("near_dedup")
        assert cfg.near_dedup.lsh_params() == (14, 8) and cfg.near_dedup.num_perm == 112

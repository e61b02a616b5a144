"""Stage stats merge the same way whatever the bundle split."""

from __future__ import annotations

import random

from tokenmill.transforms.document import Document, Drop, DropReason, ErrorKind, Failure
from tokenmill.transforms.stats import StageStats


def outcomes(n: int):
    for i in range(n):
        doc = Document(id=f"d{i}", text=f"text {i}")
        if i % 3 == 0:
            yield doc, Drop(DropReason.NO_TEXT, f"detail {i}")
        elif i % 7 == 0:
            yield doc, Failure(ErrorKind.TIMEOUT)
        else:
            yield doc, doc


def stats_for(pairs, k=4) -> StageStats:
    stats = StageStats("s")
    for doc, outcome in pairs:
        stats.record(doc, outcome, k)
        stats.observe("chars", "chars", len(doc.text))
    return stats


def test_counts_add_up():
    stats = stats_for(outcomes(100))
    assert stats.seen == 100
    assert stats.seen == stats.kept + sum(stats.dropped.values()) + sum(stats.errors.values())
    assert dict(stats.dropped) == {"no_text": 34} and dict(stats.errors) == {"timeout": 10}


def test_merge_is_independent_of_bundle_split():
    pairs = list(outcomes(500))
    whole = stats_for(pairs)
    for seed in range(5):
        rng = random.Random(seed)
        shuffled = pairs[:]
        rng.shuffle(shuffled)
        cuts = sorted(rng.sample(range(1, 500), 6))
        parts = [stats_for(shuffled[a:b]) for a, b in zip([0] + cuts, cuts + [500])]
        merged = StageStats("s")
        for part in parts:
            merged.merge(part, 4)
        assert merged.to_json() == whole.to_json()


def test_json_round_trip():
    stats = stats_for(outcomes(50))
    assert StageStats.from_json(stats.to_json()).to_json() == stats.to_json()

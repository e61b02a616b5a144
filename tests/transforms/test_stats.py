"""Stage stats merge the same way whatever the bundle split."""

from __future__ import annotations

import random

import pytest

from tokenmill.transforms.document import Document, Drop, DropReason, ErrorKind, Failure
from tokenmill.transforms.stats import StageStats, url_host


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


def test_sample_top_keeps_the_highest_values_whatever_the_bundles():
    from tokenmill.transforms.document import Document
    from tokenmill.transforms.stats import StageStats, url_host

    values = [0.1, 0.95, 0.3, 0.99, 0.5, float("nan"), 0.97, 0.2]
    docs = [Document(id=f"d{i}", text=f"text {i}") for i in range(len(values))]
    whole = StageStats("toxicity")
    for d, v in zip(docs, values):
        whole.sample_top("top_kept_by_toxicity", d, v, f"{v}", 3)
    parts = [StageStats("toxicity"), StageStats("toxicity")]
    for i, (d, v) in enumerate(zip(docs, values)):
        parts[i % 2].sample_top("top_kept_by_toxicity", d, v, f"{v}", 3)
    merged = parts[0].merge(parts[1], 3)
    for stats in (whole, merged):
        assert [s.id for s in sorted(stats.samples["top_kept_by_toxicity"], key=lambda s: s.rank)] == ["d3", "d6", "d1"]


@pytest.mark.parametrize("url, host", [
    ("http://WWW.Example.com:8080/a?b=c", "example.com"),   # the www. prefix and the port go, case folds
    ("https://news.example.co.uk/", "news.example.co.uk"),
    ("", "(no url)"),                                          # JSONL rows without a URL
    ("javascript:alert(1)//", "(no url)"),
    ("http://[::1/x", "(malformed url)"),                      # an unclosed IPv6 bracket from a crawl
])
def test_url_host(url, host):
    assert url_host(url) == host


def test_domains_are_counted_per_bundle_and_left_out_of_the_merge():
    stats = StageStats("s")
    stats.count_domain("http://a.example/1", 1)
    stats.count_domain("http://a.example/2", 1)
    stats.count_domain("http://b.example/", 2)
    assert stats.domains == {"a.example": [0, 2, 0], "b.example": [0, 0, 1]}
    merged = StageStats("s").merge(stats, 4)
    assert merged.domains == {} and "domains" not in merged.to_json()

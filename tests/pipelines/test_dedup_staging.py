"""Dedup with staged documents gives the survivors, clusters and reasons of a single-machine reference.

The dedup stages stage their documents to Parquet and decide from keys and signatures alone
(transforms/beam/staging.py). This test runs `tokenmill run` on the real sample WARCs plus
generated JSONL families (exact copies, URL revisits, near duplicates chained through edits),
once with the dedup stages off (what reaches dedup) and then with them on, in memory and with 2
worker processes, and compares docs/ and rejected/ with a plain-Python reference built from the
pure functions: exact groups by `exact_key`, URL groups by `url_key`, LSH buckets by `band_keys`,
components by union-find, survivors by `survivor_rank`.
"""

import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from testdata import union_find_minimum
from tokenmill.pipelines.cli import main
from tokenmill.pipelines.report import invariant_problems, load_report
from tokenmill.transforms.dedup import NearDedupConfig, star_edges
from tokenmill.transforms.dedup_text import exact_key, rank_id, survivor_rank, tie_break, url_key
from tokenmill.transforms.document import Document
from tokenmill.transforms.minhash import MinHasher, band_keys

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
COMMON = ["--config", "tiny", "--set", "tokenize.enabled=false", "--set", "toxicity.enabled=false",
          "--set", "pii.enabled=false", "--set", "exact_dedup.by_url=true", "--set", "near_dedup.max_rounds=6"]


def _families(path: Path) -> None:
    rng = random.Random(14)
    vocab = [a + b + c for a in "bcdfgklmnprstvz" for b in "aeiouy" for c in "bcdfgklmnprstvz"]
    rows = []
    for f in range(8):
        base = [rng.choice(vocab) for _ in range(200)]
        rows.append({"id": f"f{f}-a", "url": f"https://f{f}.example/a", "text": " ".join(base)})
        rows.append({"id": f"f{f}-copy", "url": f"https://f{f}.example/copy", "text": " ".join(base).upper()})
        chain = list(base)
        for step in range(3):                      # each edit near the previous one: one component
            chain[rng.randrange(200)] = rng.choice(vocab) + "q"
            rows.append({"id": f"f{f}-edit{step}", "url": f"https://f{f}.example/e{step}", "text": " ".join(chain)})
        rows.append({"id": f"f{f}-revisit", "url": f"HTTPS://F{f}.example/a#top",        # URL duplicate
                     "text": " ".join(rng.choice(vocab) for _ in range(200))})
    rows += [{"id": f"solo{i}", "text": " ".join(rng.choice(vocab) for _ in range(200))} for i in range(20)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _rows(out: Path, pattern: str) -> list[dict]:
    return [r for f in sorted(out.glob(pattern)) for r in pq.read_table(f).to_pylist()]


def _group(docs, key, reason, stage, rejected, weight):
    """One exact pass: survivors (with their weight) and the drops of each group."""
    groups: dict[str, list[Document]] = {}
    for d in docs:
        groups.setdefault(key(d), []).append(d)
    kept = [d for d in docs if not key(d)]
    for k, members in groups.items():
        if not k:
            continue
        best = min(members, key=lambda d: (survivor_rank(d), tie_break(d)))
        weight[best.id] = sum(weight[d.id] for d in members)
        kept.append(best)
        rejected.update({d.id: (stage, reason, best.id) for d in members if d is not best})
    return kept


def reference(docs: list[Document]) -> tuple[dict, dict]:
    """(kept id -> (text, cluster_id, cluster_size), rejected id -> (stage, reason, detail))."""
    rejected, weight = {}, {d.id: 1 for d in docs}
    kept = _group(docs, lambda d: exact_key(d.text), "exact_duplicate", "exact_dedup", rejected, weight)
    kept = _group(kept, lambda d: url_key(d.url), "url_duplicate", "exact_dedup", rejected, weight)
    cfg = NearDedupConfig()
    hasher, (bands, rows) = MinHasher(cfg.num_perm, cfg.seed, cfg.ngram, cfg.max_chars), cfg.lsh_params()
    buckets: dict[bytes, set[str]] = {}
    for d in kept:
        sig, n = hasher.signatures([d.text])
        for k in band_keys(sig[0], bands, rows) if n[0] else []:
            buckets.setdefault(k, set()).add(survivor_rank(d))
    labels = union_find_minimum([e for members in buckets.values() for e in star_edges(members)])
    by_rank = {survivor_rank(d): d for d in kept}
    sizes: dict[str, int] = {}
    for rank, label in labels.items():
        sizes[label] = sizes.get(label, 0) + weight[by_rank[rank].id]
    result = {}
    for d in kept:
        label = labels.get(survivor_rank(d))
        if label is None:
            result[d.id] = (d.text, d.id, weight[d.id])
        elif label == survivor_rank(d):
            result[d.id] = (d.text, d.id, sizes[label])
        else:
            rejected[d.id] = ("near_dedup", "near_duplicate", rank_id(label))
    return result, rejected


@pytest.mark.e2e
@pytest.mark.parametrize("mode", [[], ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]],
                         ids=["in_memory", "2_processes"])
def test_staged_dedup_matches_the_reference(tmp_path, mode):
    families = tmp_path / "families.jsonl"
    _families(families)
    inputs = ["--input", str(SAMPLES / "*.warc.gz"), str(families)]
    assert main(["run", *inputs, "--output", str(tmp_path / "before"), *COMMON,
                 "--set", "filters.order=[]"]) == 0
    reaching = [Document(id=r["id"], url=r["url"], text=r["text"], source=r["source"], offset=r["offset"])
                for r in _rows(tmp_path / "before", "docs/*.parquet")]
    want_kept, want_rejected = reference(reaching)
    assert len(want_rejected) >= 30     # the families: copies, revisits, chained edits

    out = tmp_path / "out"
    assert main(["run", *inputs, "--output", str(out), *COMMON, "--set", "output.keep_rejected=true",
                 "--set", "filters.order=[exact_dedup, near_dedup]", *mode]) == 0
    kept = {r["id"]: (r["text"], r["cluster_id"], r["cluster_size"]) for r in _rows(out, "docs/*.parquet")}
    rejected = {r["id"]: (r["stage"], r["reason"], r["detail"]) for r in _rows(out, "rejected/*_dedup/*.parquet")}
    assert kept == want_kept
    assert rejected == want_rejected
    report = load_report(str(out))
    assert invariant_problems(report) == []
    assert report["output"]["documents"] == len(want_kept)
    assert not (out / "staging").exists()   # staged documents are deleted with the run

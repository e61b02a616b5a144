"""NearDedup in Beam: families collapse to one deterministic survivor; big buckets; verification;
the same survivors with 1 or 2 workers and in any input order."""

import random

from tokenmill.transforms.beam.exact_dedup import ExactDedup
from tokenmill.transforms.beam.near_dedup import NearDedup
from tokenmill.transforms.dedup import ExactDedupConfig, NearDedupConfig
from tokenmill.transforms.dedup_text import survivor_rank
from tokenmill.transforms.document import Document

ROUNDS = 6   # enough for these small components; fewer unrolled stages keep the tests fast


def _families(dedup, rng, n_families=5, size=4, singletons=15):
    """Families of a 300-word base and variants with one or two substituted words (Jaccard ~0.9),
    unrelated singletons, an exact copy, two identical 3-word notes and a document with no words."""
    docs, families = [], []
    for f in range(n_families):
        base = dedup.words(rng, 300)
        members = [Document(id=f"f{f}-0", text=" ".join(base))]
        members += [Document(id=f"f{f}-{v}", text=" ".join(dedup.substitute(rng, base, 1 + v % 2)))
                    for v in range(1, size)]
        families.append(members)
        docs += members
    docs.append(Document(id="f0-copy", text=families[0][0].text.upper()))        # exact copy of f0-0
    families[0].append(docs[-1])
    docs += [Document(id=f"single-{i}", text=" ".join(dedup.words(rng, 300))) for i in range(singletons)]
    notes = [Document(id="note-a", text="see you soon"), Document(id="note-b", text="See you, soon!")]
    docs += notes + [Document(id="dots", text="... --- ...")]
    return docs, families + [notes]


def _stages(near_cfg):
    return [("DedupExact", lambda ledger: ExactDedup(ExactDedupConfig(), ledger)),
            ("DedupNear", lambda ledger: NearDedup(near_cfg, ledger))]


def test_families_collapse_to_their_smallest_rank(tmp_path, dedup, rng):
    docs, families = _families(dedup, rng)
    cfg = NearDedupConfig(max_rounds=ROUNDS)
    result = dedup.run_stages(docs, [("DedupNear", lambda ledger: NearDedup(cfg, ledger))], tmp_path)
    for family in families:
        survivor = min(family, key=survivor_rank)
        assert result.kept[survivor.id] == (survivor.id, len(family))
        for doc in family:
            if doc.id != survivor.id:
                assert result.rejected[doc.id] == ("near_dedup", "near_duplicate", survivor.id)
    grouped = {d.id for family in families for d in family}
    for doc in docs:
        if doc.id not in grouped:
            assert result.kept[doc.id] == (doc.id, 1)
    dedup.check_accounting(result, "near_dedup", len(docs))
    extra = result.stats["near_dedup"]["extra"]
    assert extra["cc_unsettled_nodes"] == 0 and extra["signatures"] == len(docs)
    assert extra["docs_without_shingles"] == 1 and extra["lsh_bands"] == 14 and extra["lsh_rows"] == 8
    sizes = result.stats["near_dedup"]["histograms"]["component_docs"]["counts"]
    assert sizes[:5] == [len(docs) - len(grouped), 1, 0, len(families) - 2, 1]   # singles, notes, 4 x 4, one of 5


def test_cluster_size_counts_exact_copies_too(tmp_path, dedup, rng):
    docs, families = _families(dedup, rng, n_families=2, singletons=3)
    result = dedup.run_stages(docs, _stages(NearDedupConfig(max_rounds=ROUNDS)), tmp_path)
    family0 = families[0]                      # 4 near variants + 1 exact copy of f0-0
    survivor = min((d for d in family0 if d.id != "f0-copy" or
                    survivor_rank(d) < survivor_rank(family0[0])), key=survivor_rank)
    assert result.kept[survivor.id] == (survivor.id, 5)
    assert result.stats["exact_dedup"]["dropped"] == {"exact_duplicate": 2}         # the copy and one note
    dedup.check_accounting(result, "exact_dedup", len(docs))
    dedup.check_accounting(result, "near_dedup", result.stats["exact_dedup"]["kept"])


def test_big_bucket_links_to_its_minimum_and_verification_rejects_weak_pairs(tmp_path, dedup, rng):
    base = dedup.words(rng, 300)
    big = [Document(id=f"big-{i}", text=" ".join(dedup.substitute(rng, base, 1))) for i in range(40)]
    weak = []                                  # pairs with Jaccard 0.24: 80 shared words, 120 own words each
    for i in range(40):
        shared, a, b = dedup.words(rng, 80), dedup.words(rng, 120), dedup.words(rng, 120)
        weak += [Document(id=f"weak-{i}-a", text=" ".join(shared + a)),
                 Document(id=f"weak-{i}-b", text=" ".join(shared + b))]
    # threshold 0.4: datasketch picks 28 bands x 4 rows, so a 0.24 pair is a candidate with p = 0.09,
    # and verification at 0.4 rejects it (4 standard errors of the estimate away)
    cfg = NearDedupConfig(threshold=0.4, verify=True, bucket_pair_cap=8, max_rounds=ROUNDS)
    result = dedup.run_stages(big + weak, [("DedupNear", lambda ledger: NearDedup(cfg, ledger))], tmp_path)
    survivor = min(big, key=survivor_rank)
    assert result.kept[survivor.id] == (survivor.id, 40)
    assert {d.id for d in big if d.id != survivor.id} <= set(result.rejected)
    assert all(d.id in result.kept for d in weak)
    extra = result.stats["near_dedup"]["extra"]
    assert extra["lsh_oversized_buckets"] > 0 and extra["rejected_edges"] > 0 and extra["verified_edges"] >= 39
    dedup.check_accounting(result, "near_dedup", len(big) + len(weak))


def test_same_survivors_with_one_or_two_workers_and_any_order(tmp_path, dedup, rng):
    docs, _ = _families(dedup, rng, n_families=4, singletons=10)
    cfg = NearDedupConfig(max_rounds=ROUNDS)
    one = dedup.run_stages(docs, _stages(cfg), tmp_path / "one")
    shuffled = list(docs)
    random.Random(99).shuffle(shuffled)
    two = dedup.run_stages(shuffled, _stages(cfg), tmp_path / "two",
                           ["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert one.kept == two.kept and one.rejected == two.rejected
    assert len(one.kept) + len(one.rejected) == len(docs)

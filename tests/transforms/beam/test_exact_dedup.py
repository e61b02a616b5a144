"""ExactDedup in Beam: one deterministic survivor per normalised text (and URL), with accounting."""

from tokenmill.transforms.beam.exact_dedup import ExactDedup
from tokenmill.transforms.dedup import ExactDedupConfig
from tokenmill.transforms.dedup_text import survivor_rank
from tokenmill.transforms.document import Document


def _docs():
    same = ["The quick brown fox, 2021.", "the QUICK brown fox 1999", "The quick  brown   fox!!! 123456"]
    docs = [Document(id=f"fox-{i}", url=f"https://a.example/{i}", text=t) for i, t in enumerate(same)]
    docs += [Document(id=f"solo-{i}", url=f"https://b.example/{i}", text=f"unrelated text number {'x' * i}")
             for i in range(4)]
    docs += [Document(id="punct-1", text="!!!"), Document(id="punct-2", text="???")]   # no words: not one group
    docs += [Document(id="url-1", url="HTTPS://c.example/page#a", text="first version of a page"),
             Document(id="url-2", url="https://c.example/page", text="second version of the page")]
    return docs


def test_exact_dedup_keeps_the_smallest_rank(tmp_path, dedup):
    docs = _docs()
    result = dedup.run_stages(docs, [("DedupExact", lambda ledger: ExactDedup(ExactDedupConfig(), ledger))], tmp_path)
    foxes = [d for d in docs if d.id.startswith("fox")]
    survivor = min(foxes, key=survivor_rank)
    assert result.kept[survivor.id] == (survivor.id, 3)
    for fox in foxes:
        if fox.id != survivor.id:
            assert result.rejected[fox.id] == ("exact_dedup", "exact_duplicate", survivor.id)
    for doc in docs:
        if not doc.id.startswith("fox"):
            assert result.kept[doc.id] == (doc.id, 1)
    dedup.check_accounting(result, "exact_dedup", len(docs))
    stats = result.stats["exact_dedup"]
    assert stats["dropped"] == {"exact_duplicate": 2}
    assert stats["histograms"]["cluster_size"]["counts"][:3] == [len(docs) - 3, 0, 1]   # 10 singletons, one of 3


def test_exact_dedup_longest_and_by_url(tmp_path, dedup):
    docs = _docs()
    cfg = ExactDedupConfig(survivor="longest", by_url=True)
    result = dedup.run_stages(docs, [("DedupExact", lambda ledger: ExactDedup(cfg, ledger))], tmp_path)
    assert result.kept["fox-2"] == ("fox-2", 3)          # the longest raw text of the three
    url_survivor = min(["url-1", "url-2"], key=lambda i: survivor_rank(
        next(d for d in docs if d.id == i), "longest"))
    assert url_survivor == "url-2"
    assert result.rejected["url-1"] == ("exact_dedup", "url_duplicate", "url-2")
    assert result.stats["exact_dedup"]["dropped"] == {"exact_duplicate": 2, "url_duplicate": 1}
    dedup.check_accounting(result, "exact_dedup", len(docs))

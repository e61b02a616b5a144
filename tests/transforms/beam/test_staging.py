"""Staging pieces: documents survive the Parquet round trip field for field, shared keys are the
ones seen twice, and decisions turn into the outcomes RecordOutcomes expects."""

import math

from tokenmill.transforms.beam.staging import (KEY_PARTITIONS, SharedLookup, StagingWriter, _CountKeys, drop, fail,
                                               keep, outcome_of, read_rows)
from tokenmill.transforms.document import Document, Drop, DropReason, ErrorKind, Failure
from tokenmill.transforms.schemas import staged_doc


def _same(a: Document, b: Document) -> bool:
    """Field equality with NaN equal to NaN (a Document with a NaN score is not == itself)."""
    def norm(v):
        return "nan" if isinstance(v, float) and math.isnan(v) else v
    return all(norm(getattr(a, f)) == norm(getattr(b, f)) for f in a.__dataclass_fields__)


def test_documents_read_back_equal_in_write_order(tmp_path):
    rich = Document(id="a", url="https://a.example/x", text="Grüße, 世界", source="s.warc.gz", offset=123,
                    record_type="response", content_type="text/html", http_status=200, charset="utf-8",
                    date="2024-01-01", html=b"<p>x</p>", lang="de", lang_score=0.93,
                    lang_top=(("de", 0.93), ("en", 0.05)), toxicity=0.01, toxicity_labels={"toxic": 0.01},
                    pii_counts={"EMAIL_ADDRESS": 2}, cluster_id="c", cluster_size=3,
                    signals={"words": 2.0, "extract_s": 0.5})
    plain = Document(id="b", text="plain")                    # NaN scores, empty maps, no html
    writer = StagingWriter(str(tmp_path), [])
    assert writer.add(rich) == (writer.token, 0) and writer.add(plain) == (writer.token, 1)
    token, path = writer.close()
    back = [staged_doc(r) for r in read_rows(path)]
    assert token in path and len(back) == 2
    assert _same(back[0], rich) and _same(back[1], plain)
    assert not _same(back[1], rich)


def test_shared_keys_are_those_seen_twice():
    width = 16
    keys = [bytes([i]) * width for i in (1, 2, 2, 3, 3, 3)]
    shared = list(_CountKeys().process(("text:00", [b"".join(keys[:3]), b"".join(keys[3:])])))
    assert shared == [("text", keys[1] + keys[3])]
    lookup = SharedLookup()
    lookup.update(shared)
    assert lookup.contains("text", [keys[0], keys[1], keys[3], b"\x09" * width]).tolist() == [False, True, True, False]
    assert lookup.contains("band", [b"\x01" * 18]).tolist() == [False]      # a kind with no shared keys
    assert KEY_PARTITIONS >= 1


def test_decisions_become_outcomes():
    doc = Document(id="d", text="t", cluster_size=2)
    assert outcome_of(doc, None) == (None, Document(id="d", text="t", cluster_id="d", cluster_size=2))
    assert outcome_of(doc, keep(0, 7)) == (None, Document(id="d", text="t", cluster_id="d", cluster_size=7))
    assert outcome_of(doc, drop(0, DropReason.NEAR_DUPLICATE, "s")) == (doc, Drop(DropReason.NEAR_DUPLICATE, "s"))
    assert outcome_of(doc, fail(0, ErrorKind.INTERNAL, "boom")) == (doc, Failure(ErrorKind.INTERNAL, "boom"))

"""ScrubPII in a Beam pipeline: kept documents scrubbed, drops and entity counts in the ledger's files."""

import functools
import json

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tokenmill.transforms.beam.ledger import Ledger
from tokenmill.transforms.beam.pii import ScrubPII
from tokenmill.transforms.document import Document
from tokenmill.transforms.pii import make_scrubber
from tokenmill.transforms.pii_config import PIIConfig

DOCS = [
    Document(id="kept-1", text="Mail zelda@protonmail.com about it."),
    Document(id="kept-2", text="No personal data in here."),
    Document(id="dropped", text="a@protonmail.com b@protonmail.com c@protonmail.com (415) 555-0172"),
]


def test_scrub_pii_stage(tmp_path):
    cfg = PIIConfig(max_findings=3, batch_size=2)
    ledger = Ledger(str(tmp_path), functools.partial(make_scrubber, cfg), samples_per_reason=5, keep_rejected=True)
    with TestPipeline() as p:
        kept = p | beam.Create(DOCS) | "ScrubPII" >> ScrubPII(cfg, ledger)
        assert_that(kept | beam.Map(lambda d: (d.id, d.text, dict(d.pii_counts))), equal_to([
            ("kept-1", "Mail <EMAIL_ADDRESS> about it.", {"EMAIL_ADDRESS": 1}),
            ("kept-2", "No personal data in here.", {}),
        ]))
        ledger.write(p)
    stats = json.loads((tmp_path / "stats" / "pii.json").read_text())
    assert (stats["seen"], stats["kept"], stats["dropped"]) == (3, 2, {"too_much_pii": 1})
    assert stats["extra"] == {"docs_with_pii": 1, "replaced.EMAIL_ADDRESS": 1}
    sample, = stats["samples"]["too_much_pii"]
    assert "protonmail" not in sample["text"] and "555-0172" not in sample["text"]
    rejected = pq.read_table(next((tmp_path / "rejected" / "pii").glob("*.parquet"))).to_pylist()
    assert [(r["id"], r["reason"]) for r in rejected] == [("dropped", "too_much_pii")]
    # presidio-anonymizer joins same-type findings separated only by spaces into one replacement.
    assert rejected[0]["text"] == "<EMAIL_ADDRESS> <PHONE_NUMBER>"

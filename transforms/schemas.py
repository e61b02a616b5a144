"""Parquet schemas of the documents and rejects a run writes (DESIGN.md section 2).

Defined once here; the writers and every reader (tests, report, trainer tooling) import them.
"""

from __future__ import annotations

import math
from typing import Callable

import pyarrow as pa

from tokenmill.transforms.document import Document

DOC_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("url", pa.string()),
    ("text", pa.string()),
    ("lang", pa.string()),
    ("lang_score", pa.float32()),
    ("lang_top", pa.list_(pa.struct([("lang", pa.string()), ("score", pa.float32())]))),
    ("toxicity", pa.float32()),
    ("toxicity_labels", pa.map_(pa.string(), pa.float32())),
    ("pii_counts", pa.map_(pa.string(), pa.int32())),
    ("cluster_id", pa.string()),
    ("cluster_size", pa.int32()),
    ("source", pa.string()),
    ("offset", pa.int64()),
    ("date", pa.string()),
    ("charset", pa.string()),
    ("signals", pa.map_(pa.string(), pa.float64())),
])

REJECTED_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("url", pa.string()),
    ("stage", pa.string()),
    ("reason", pa.string()),
    ("text", pa.string()),
    ("detail", pa.string()),
    # The signals the document had when it was dropped, for `tokenmill inspect`.
    ("lang", pa.string()),
    ("lang_score", pa.float32()),
    ("toxicity", pa.float32()),
    ("cluster_id", pa.string()),
    ("cluster_size", pa.int32()),
    ("source", pa.string()),
    ("offset", pa.int64()),
    ("signals", pa.map_(pa.string(), pa.float64())),
])


def _nullable(value: float) -> float | None:
    return None if math.isnan(value) else value


def doc_row(doc: Document) -> dict:
    """The `docs/*.parquet` row of a kept document."""
    return {
        "id": doc.id, "url": doc.url, "text": doc.text, "lang": doc.lang,
        "lang_score": _nullable(doc.lang_score),
        "lang_top": [{"lang": lang, "score": score} for lang, score in doc.lang_top],
        "toxicity": _nullable(doc.toxicity), "toxicity_labels": dict(doc.toxicity_labels),
        "pii_counts": dict(doc.pii_counts), "cluster_id": doc.cluster_id, "cluster_size": doc.cluster_size,
        "source": doc.source, "offset": doc.offset, "date": doc.date, "charset": doc.charset,
        "signals": dict(doc.signals),
    }


def rejected_row(doc: Document, stage: str, reason: str, detail: str, scrub: Callable[[str], str]) -> dict:
    """The `rejected/<stage>/*.parquet` row of a dropped document; text, URL and detail scrubbed."""
    return {
        "id": doc.id, "url": scrub(doc.url), "stage": stage, "reason": reason, "text": scrub(doc.text),
        "detail": scrub(detail), "lang": doc.lang, "lang_score": _nullable(doc.lang_score),
        "toxicity": _nullable(doc.toxicity), "cluster_id": doc.cluster_id, "cluster_size": doc.cluster_size,
        "source": doc.source, "offset": doc.offset, "signals": dict(doc.signals),
    }

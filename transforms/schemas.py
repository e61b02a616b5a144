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


# Documents staged by the dedup stages (transforms/beam/staging.py): every Document field, so that
# a staged document reads back equal to the one written (floats as float64, NaN kept as NaN).
STAGED_DOC_SCHEMA = pa.schema([
    ("id", pa.string()), ("url", pa.string()), ("text", pa.string()), ("source", pa.string()),
    ("offset", pa.int64()), ("record_type", pa.string()), ("content_type", pa.string()),
    ("http_status", pa.int64()), ("charset", pa.string()), ("date", pa.string()), ("html", pa.binary()),
    ("lang", pa.string()), ("lang_score", pa.float64()),
    ("lang_top", pa.list_(pa.struct([("lang", pa.string()), ("score", pa.float64())]))),
    ("toxicity", pa.float64()), ("toxicity_labels", pa.map_(pa.string(), pa.float64())),
    ("pii_counts", pa.map_(pa.string(), pa.int64())), ("cluster_id", pa.string()),
    ("cluster_size", pa.int64()), ("signals", pa.map_(pa.string(), pa.float64())),
])


def staged_row(doc: Document) -> dict:
    """The staging row of a document (all fields; `staged_doc` inverts it)."""
    return {
        "id": doc.id, "url": doc.url, "text": doc.text, "source": doc.source, "offset": doc.offset,
        "record_type": doc.record_type, "content_type": doc.content_type, "http_status": doc.http_status,
        "charset": doc.charset, "date": doc.date, "html": doc.html, "lang": doc.lang,
        "lang_score": float(doc.lang_score),
        "lang_top": [{"lang": lang, "score": float(score)} for lang, score in doc.lang_top],
        "toxicity": float(doc.toxicity), "toxicity_labels": {k: float(v) for k, v in doc.toxicity_labels.items()},
        "pii_counts": dict(doc.pii_counts), "cluster_id": doc.cluster_id, "cluster_size": doc.cluster_size,
        "signals": {k: float(v) for k, v in doc.signals.items()},
    }


def staged_doc(row: dict) -> Document:
    """The Document of a staging row (pyarrow gives maps as lists of (key, value) pairs)."""
    return Document(
        id=row["id"], url=row["url"], text=row["text"], source=row["source"], offset=row["offset"],
        record_type=row["record_type"], content_type=row["content_type"], http_status=row["http_status"],
        charset=row["charset"], date=row["date"], html=row["html"], lang=row["lang"],
        lang_score=row["lang_score"], lang_top=tuple((t["lang"], t["score"]) for t in row["lang_top"]),
        toxicity=row["toxicity"], toxicity_labels=dict(row["toxicity_labels"]),
        pii_counts=dict(row["pii_counts"]), cluster_id=row["cluster_id"], cluster_size=row["cluster_size"],
        signals=dict(row["signals"]))

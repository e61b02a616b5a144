"""WriteDocs: kept documents to `docs/part-*.parquet` with their signals (DESIGN.md section 2).

The CPU time of making the rows is charged to the `write_docs` cost counter (Beam's Parquet
writer after it is not: the report counts it with the runner's own work)."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from tokenmill.transforms.beam.ledger import charge
from tokenmill.transforms.beam.stage import cpu_clock
from tokenmill.transforms.schemas import DOC_SCHEMA, doc_row


class _DocRows(beam.DoFn):
    def process(self, doc):
        started = cpu_clock()
        row = doc_row(doc)
        charge("write_docs", started)
        yield row


class WriteDocs(beam.PTransform):
    def __init__(self, out_dir: str, num_shards: int = 0):
        super().__init__()
        self._prefix = FileSystems.join(out_dir, "docs", "part")
        self._num_shards = num_shards

    def expand(self, docs):
        # docs: PCollection[Document] -> rows (dict per DOC_SCHEMA) -> Parquet files
        return (docs
                | "DocRows" >> beam.ParDo(_DocRows())
                | "WriteParquet" >> beam.io.WriteToParquet(
                    self._prefix, DOC_SCHEMA, codec="zstd", file_name_suffix=".parquet",
                    num_shards=self._num_shards, row_group_buffer_size=16 << 20))

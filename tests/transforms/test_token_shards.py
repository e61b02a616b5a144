"""The shard format: write and read back, row groups, checksums, the manifest's JSON."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokenmill.transforms.token_shards import (ROW_GROUP_ROWS, HashingWriter, Manifest, ShardInfo, read_shard,
                                               shard_name, shard_schema, write_shard)


def _rows(n: int, vocab: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(f"doc-{i:05d}", rng.integers(0, vocab, size=int(rng.integers(0, 50)))) for i in range(n)]


@pytest.mark.parametrize("vocab, token_type", [(4096, pa.uint16()), (1 << 16, pa.uint16()), (70000, pa.uint32())])
def test_write_then_read_round_trips_with_the_schema(vocab, token_type):
    rows = _rows(2500, vocab)
    raw = io.BytesIO()
    out = HashingWriter(raw)
    n_rows, n_tokens = write_shard(out, rows, vocab)
    data = raw.getvalue()
    assert (n_rows, n_tokens) == (2500, sum(len(t) for _, t in rows))
    assert out.hexdigest() == hashlib.sha256(data).hexdigest() and out.size == len(data)
    parquet = pq.ParquetFile(pa.BufferReader(data))
    assert parquet.schema_arrow == shard_schema(vocab)
    assert parquet.schema_arrow.field("tokens").type.value_type == token_type
    groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert groups == [ROW_GROUP_ROWS, ROW_GROUP_ROWS, 500]
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    info = ShardInfo("x.parquet", "train", n_rows, n_tokens, out.hexdigest())
    shard = read_shard(data, info)
    assert shard.ids == [i for i, _ in rows]
    for k in (0, 999, 1000, 2499):
        np.testing.assert_array_equal(shard.document(k), rows[k][1])


def test_read_refuses_a_shard_that_differs_from_the_manifest():
    raw = io.BytesIO()
    out = HashingWriter(raw)
    n_rows, n_tokens = write_shard(out, _rows(10, 100), 100)
    good = ShardInfo("s.parquet", "train", n_rows, n_tokens, out.hexdigest())
    with pytest.raises(ValueError, match="sha256"):
        read_shard(raw.getvalue()[:-10], good)                     # a half-written file
    with pytest.raises(ValueError, match="manifest says"):
        read_shard(raw.getvalue(), ShardInfo("s.parquet", "train", n_rows + 1, n_tokens, out.hexdigest()))


def test_an_empty_shard_is_valid():
    raw = io.BytesIO()
    assert write_shard(HashingWriter(raw), [], 100) == (0, 0)
    shard = read_shard(raw.getvalue())
    assert shard.ids == [] and len(shard.flat) == 0


def test_manifest_json_round_trip_and_totals():
    shards = (ShardInfo("train-00000-of-00002.parquet", "train", 3, 30, "a" * 64, 120),
              ShardInfo("train-00001-of-00002.parquet", "train", 2, 12, "b" * 64, 40),
              ShardInfo("val-00000-of-00001.parquet", "val", 1, 5, "c" * 64, 20))
    manifest = Manifest("d" * 64, 4096, 1, 2, 3, shards)
    text = manifest.to_json()
    assert '"total_tokens": 47' in text and '"split_tokens": {\n  "train": 42,\n  "val": 5\n }' in text
    assert Manifest.from_json(text) == manifest
    assert [s.path for s in manifest.split("val")] == ["val-00000-of-00001.parquet"]


def test_shard_names():
    assert shard_name("train", 3, 8) == "train-00003-of-00008.parquet"
    with pytest.raises(ValueError):
        shard_name("test", 0, 1)

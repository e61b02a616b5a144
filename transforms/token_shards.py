"""The token shard format, defined once: the pipeline's writer and the trainer's reader import it.

Parquet with zstd, one row per document: `id`, `tokens` (uint16 when the vocabulary fits in 16
bits, else uint32) and `n_tokens`; row groups of about 1,000 rows so a reader can stream.
`tokens/manifest.json` lists every shard with its split, rows, tokens, text bytes and sha256, and
the tokenizer's sha256, path, vocabulary size and special ids (DESIGN.md section 2).

Documents are stored without bos/eos: the trainer packs them into blocks with an eos separator.
Writes go through `HashingWriter`, so a shard's sha256 is known the moment it is closed, without
reading the file back. This module imports only pyarrow and numpy, so the trainer (tokenmill.model)
can import it without pulling in Beam.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import BinaryIO, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 1000
MANIFEST_NAME = "manifest.json"
SPLITS = ("train", "val")
FORMAT_VERSION = 1


def token_type(vocab_size: int) -> pa.DataType:
    return pa.uint16() if vocab_size <= 1 << 16 else pa.uint32()


def token_dtype(vocab_size: int) -> np.dtype:
    """The numpy dtype of a document's token array (matches `token_type`)."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def shard_schema(vocab_size: int) -> pa.Schema:
    return pa.schema([
        ("id", pa.string()),
        ("tokens", pa.list_(token_type(vocab_size))),
        ("n_tokens", pa.int32()),
    ])


def shard_name(split: str, index: int, count: int) -> str:
    """`train-00003-of-00008.parquet`: the name of a shard inside tokens/."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


@dataclass(frozen=True)
class ShardInfo:
    path: str
    """Relative to the tokens/ directory."""
    split: str
    rows: int
    tokens: int
    sha256: str
    bytes: int = 0
    """UTF-8 bytes of the documents' text before encoding (for bits per byte)."""


@dataclass(frozen=True)
class Manifest:
    tokenizer_sha256: str
    vocab_size: int
    bos_id: int
    eos_id: int
    pad_id: int
    shards: tuple[ShardInfo, ...] = field(default_factory=tuple)
    tokenizer_path: str = "../tokenizer/tokenizer.model"
    """The SentencePiece model, relative to the tokens/ directory."""
    format_version: int = FORMAT_VERSION

    @property
    def total_tokens(self) -> int:
        return sum(s.tokens for s in self.shards)

    def split(self, name: str) -> tuple[ShardInfo, ...]:
        return tuple(s for s in self.shards if s.split == name)

    def to_json(self) -> str:
        data = asdict(self)
        data["total_tokens"] = self.total_tokens
        data["split_tokens"] = {name: sum(s.tokens for s in self.split(name)) for name in SPLITS}
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        data = json.loads(text)
        data.pop("total_tokens", None)
        data.pop("split_tokens", None)
        data["shards"] = tuple(ShardInfo(**s) for s in data["shards"])
        return cls(**data)


class HashingWriter:
    """A write-only file wrapper that computes the sha256 and size of everything written through it."""

    def __init__(self, raw: BinaryIO):
        self._raw, self._sha, self.size, self.closed = raw, hashlib.sha256(), 0, False

    def write(self, data) -> int:
        view = memoryview(data)
        self._sha.update(view)
        self.size += view.nbytes
        self._raw.write(view)
        return view.nbytes

    def flush(self) -> None:
        self._raw.flush()

    def tell(self) -> int:
        return self.size

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
            self.closed = True

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def write_shard(out: BinaryIO, rows: Iterable[tuple[str, np.ndarray]], vocab_size: int) -> tuple[int, int]:
    """Writes (id, tokens) rows as one shard to the open binary file `out`; returns (rows, tokens).

    Rows are written in the order given, in row groups of ROW_GROUP_ROWS, so memory stays at one
    row group's worth of Arrow data whatever the shard's size.
    """
    schema, dtype = shard_schema(vocab_size), token_dtype(vocab_size)
    n_rows = n_tokens = 0
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        chunk: list[tuple[str, np.ndarray]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == ROW_GROUP_ROWS:
                n_tokens += _write_row_group(writer, schema, dtype, chunk)
                n_rows, chunk = n_rows + len(chunk), []
        if chunk or not n_rows:
            n_tokens += _write_row_group(writer, schema, dtype, chunk)
            n_rows += len(chunk)
    return n_rows, n_tokens


def _write_row_group(writer: pq.ParquetWriter, schema: pa.Schema, dtype: np.dtype,
                     chunk: list[tuple[str, np.ndarray]]) -> int:
    lengths = np.fromiter((len(tokens) for _, tokens in chunk), dtype=np.int64, count=len(chunk))
    offsets = np.zeros(len(chunk) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate([np.asarray(t, dtype=dtype) for _, t in chunk]) if chunk else np.zeros(0, dtype)
    tokens = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=schema.field("tokens").type.value_type))
    table = pa.Table.from_arrays(
        [pa.array([i for i, _ in chunk], pa.string()), tokens, pa.array(lengths.astype(np.int32))], schema=schema)
    writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    return int(lengths.sum())


@dataclass(frozen=True)
class ShardTokens:
    """One shard read back: all documents' tokens in one flat array, split by `offsets`."""

    ids: list[str]
    flat: np.ndarray
    """Shape (total tokens,), uint16 or uint32."""
    offsets: np.ndarray
    """Shape (rows + 1,), int64: document i is flat[offsets[i]:offsets[i + 1]]."""

    def document(self, i: int) -> np.ndarray:
        return self.flat[self.offsets[i]:self.offsets[i + 1]]


def read_shard(data: bytes | BinaryIO, info: ShardInfo | None = None) -> ShardTokens:
    """Reads a shard (its bytes or an open file); with `info`, checks sha256, rows and tokens."""
    raw = data if isinstance(data, bytes) else data.read()
    if info is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != info.sha256:
            raise ValueError(f"shard {info.path}: sha256 {digest[:12]}... differs from the manifest's "
                             f"{info.sha256[:12]}... (changed or half-written file)")
    table = pq.read_table(pa.BufferReader(raw), columns=["id", "tokens", "n_tokens"])
    tokens = table.column("tokens").combine_chunks()
    if isinstance(tokens, pa.ChunkedArray):  # an empty table
        tokens = pa.array([], tokens.type)
    offsets = tokens.offsets.to_numpy().astype(np.int64)
    flat = tokens.values.to_numpy(zero_copy_only=False)[offsets[0]:offsets[-1]] if len(tokens) else \
        np.zeros(0, np.uint16)
    offsets = offsets - offsets[0]
    n_tokens = table.column("n_tokens").to_numpy()
    if not np.array_equal(np.diff(offsets), n_tokens):
        raise ValueError("shard: n_tokens column disagrees with the token lists")
    if info is not None and (table.num_rows != info.rows or len(flat) != info.tokens):
        raise ValueError(f"shard {info.path}: {table.num_rows} rows / {len(flat)} tokens, manifest says "
                         f"{info.rows} / {info.tokens}")
    return ShardTokens(table.column("id").to_pylist(), flat, offsets)

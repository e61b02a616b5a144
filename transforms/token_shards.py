"""The token shard format, defined once: the pipeline's writer and the trainer's reader import it.

Parquet with zstd, one row per document: `id`, `tokens` (uint16 when the vocabulary fits in 16
bits, else uint32) and `n_tokens`; row groups of about 1,000 rows so a reader can stream.
`tokens/manifest.json` lists every shard with its split, rows, tokens and sha256, and the
tokenizer's sha256, vocabulary size and special ids (DESIGN.md section 2).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import pyarrow as pa

ROW_GROUP_ROWS = 1000
MANIFEST_NAME = "manifest.json"
SPLITS = ("train", "val")


def token_type(vocab_size: int) -> pa.DataType:
    return pa.uint16() if vocab_size <= 1 << 16 else pa.uint32()


def shard_schema(vocab_size: int) -> pa.Schema:
    return pa.schema([
        ("id", pa.string()),
        ("tokens", pa.list_(token_type(vocab_size))),
        ("n_tokens", pa.int32()),
    ])


@dataclass(frozen=True)
class ShardInfo:
    path: str
    """Relative to the tokens/ directory."""
    split: str
    rows: int
    tokens: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    tokenizer_sha256: str
    vocab_size: int
    bos_id: int
    eos_id: int
    pad_id: int
    shards: tuple[ShardInfo, ...] = field(default_factory=tuple)

    @property
    def total_tokens(self) -> int:
        return sum(s.tokens for s in self.shards)

    def split(self, name: str) -> tuple[ShardInfo, ...]:
        return tuple(s for s in self.shards if s.split == name)

    def to_json(self) -> str:
        data = asdict(self)
        data["total_tokens"] = self.total_tokens
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        data = json.loads(text)
        data.pop("total_tokens", None)
        data["shards"] = tuple(ShardInfo(**s) for s in data["shards"])
        return cls(**data)

"""Token data for the trainer: the manifest's shards, packed into blocks, in a resumable order.

Each split's documents are concatenated in manifest order (shards sorted by name, rows by id)
with the eos id after each document, as GPT-2 and nanoGPT pack text; the stream is cut into
non-overlapping blocks of block_size + 1 tokens (inputs and the targets shifted by one). The
sampler visits every block once per epoch, in a permutation seeded by (seed, epoch), so its whole
state is two integers: the data position a checkpoint saves and `--resume` restores. Shards are
read whole and checked against the manifest's sha256, rows and token counts; memory is the
split's tokens times 2 bytes (4 above 65,536 pieces). Imports only the shard schema of the pipeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tokenmill.transforms.token_shards import MANIFEST_NAME, Manifest, read_shard, token_dtype


def load_manifest(data_dir: str | Path) -> Manifest:
    path = Path(data_dir) / MANIFEST_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path}: no manifest (is --data the tokens/ directory of a finished run?)")
    return Manifest.from_json(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class TokenSplit:
    name: str
    stream: np.ndarray
    """Shape (tokens + documents,): every document followed by eos."""
    documents: int
    text_bytes: int
    """UTF-8 bytes of the documents' text; 0 when the manifest does not record them."""

    def blocks(self, block_size: int) -> int:
        """Whole blocks of block_size inputs (each needs one more token for its last target)."""
        return max(0, (len(self.stream) - 1) // block_size)

    @property
    def tokens_per_byte(self) -> float | None:
        return len(self.stream) / self.text_bytes if self.text_bytes else None


def load_split(data_dir: str | Path, manifest: Manifest, split: str, verify: bool = True) -> TokenSplit:
    """One split's documents as a single eos-separated stream (shards in name order)."""
    dtype = token_dtype(manifest.vocab_size)
    parts, documents, text_bytes = [], 0, 0
    for info in sorted(manifest.split(split), key=lambda s: s.path):
        shard = read_shard((Path(data_dir) / info.path).read_bytes(), info if verify else None)
        # Insert eos at every document end: offsets[1:] are those ends in shard.flat.
        parts.append(np.insert(shard.flat.astype(dtype), shard.offsets[1:], manifest.eos_id))
        documents += len(shard.ids)
        text_bytes += info.bytes
    stream = np.concatenate(parts) if parts else np.zeros(0, dtype)
    return TokenSplit(split, stream, documents, text_bytes)


def get_batch(stream: np.ndarray, blocks: np.ndarray, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets (B, T) int64 for the given block indices (B,)."""
    rows = blocks[:, None] * block_size + np.arange(block_size + 1)[None, :]   # (B, T + 1)
    chunk = torch.from_numpy(stream[rows].astype(np.int64))
    return chunk[:, :-1], chunk[:, 1:]


class BlockSampler:
    """Every block once per epoch, in a permutation seeded by (seed, epoch); resumable by position."""

    def __init__(self, n_blocks: int, batch_size: int, seed: int, position: dict | None = None):
        if n_blocks < 1:
            raise ValueError("not one whole block of tokens: lower model.block_size or tokenize more text")
        self.n_blocks, self.batch_size, self.seed = n_blocks, batch_size, seed
        position = position or {"epoch": 0, "cursor": 0}
        self.epoch, self.cursor = int(position["epoch"]), int(position["cursor"])
        self._order = self._permutation(self.epoch)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n_blocks)

    def position(self) -> dict:
        """The data position: where the next batch starts."""
        return {"epoch": self.epoch, "cursor": self.cursor}

    def next_blocks(self) -> np.ndarray:
        """The next batch_size block indices, continuing into the next epoch when this one ends."""
        out = []
        while len(out) < self.batch_size:
            take = self._order[self.cursor:self.cursor + self.batch_size - len(out)]
            out.extend(take.tolist())
            self.cursor += len(take)
            if self.cursor == self.n_blocks:
                self.epoch, self.cursor = self.epoch + 1, 0
                self._order = self._permutation(self.epoch)
        return np.asarray(out, dtype=np.int64)


def eval_blocks(n_blocks: int, count: int, seed: int) -> np.ndarray:
    """The same `count` validation blocks at every evaluation (all of them when there are fewer)."""
    return np.random.default_rng([seed, 0xE7A1]).permutation(n_blocks)[:min(count, n_blocks)]


def bits_per_byte(loss_nats: float, tokens_per_byte: float | None) -> float | None:
    """Loss per token in nats -> bits per UTF-8 byte of text (eos counted with the text it ends)."""
    return loss_nats / math.log(2) * tokens_per_byte if tokens_per_byte else None

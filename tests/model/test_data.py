"""Token data: eos packing, block batches, the epoch sampler and its resumable position."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tokenmill.model.data import (BlockSampler, bits_per_byte, eval_blocks, get_batch, load_manifest, load_split)
from tokenmill.transforms.token_shards import read_shard


def test_split_stream_is_the_documents_each_followed_by_eos(token_dir):
    manifest = load_manifest(token_dir)
    split = load_split(token_dir, manifest, "train")
    expected = []
    for info in sorted(manifest.split("train"), key=lambda s: s.path):
        shard = read_shard((token_dir / info.path).read_bytes())
        for i in range(len(shard.ids)):
            expected.extend(shard.document(i).tolist() + [manifest.eos_id])
    assert split.stream.tolist() == expected
    assert split.documents == sum(s.rows for s in manifest.split("train"))
    assert len(split.stream) == sum(s.tokens for s in manifest.split("train")) + split.documents


def test_a_changed_shard_is_refused(token_dir, tmp_path):
    import shutil
    copy = tmp_path / "tokens"
    shutil.copytree(token_dir, copy)
    shard = copy / load_manifest(copy).split("val")[0].path
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(ValueError, match="sha256"):
        load_split(copy, load_manifest(copy), "val")


def test_batches_are_blocks_with_targets_shifted_by_one():
    stream = np.arange(100, dtype=np.uint16)
    x, y = get_batch(stream, np.array([0, 3]), 8)
    assert x.tolist() == [list(range(0, 8)), list(range(24, 32))]
    assert y.tolist() == [list(range(1, 9)), list(range(25, 33))]


def test_sampler_visits_every_block_once_per_epoch_and_resumes_from_its_position():
    sampler = BlockSampler(n_blocks=10, batch_size=4, seed=7)
    seen = np.concatenate([sampler.next_blocks() for _ in range(5)])     # 20 blocks = two epochs
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:]) == list(range(10))
    assert seen[:10].tolist() != seen[10:].tolist()                       # a new order each epoch
    assert sampler.position() == {"epoch": 2, "cursor": 0}
    again = BlockSampler(10, 4, seed=7)
    first = [again.next_blocks().tolist() for _ in range(2)]
    resumed = BlockSampler(10, 4, seed=7, position=again.position())
    assert first + [resumed.next_blocks().tolist() for _ in range(3)] == seen.reshape(5, 4).tolist()


def test_eval_blocks_are_fixed_and_capped():
    assert eval_blocks(50, 10, 1).tolist() == eval_blocks(50, 10, 1).tolist()
    assert sorted(eval_blocks(5, 10, 1).tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="block"):
        BlockSampler(0, 4, 1)


def test_bits_per_byte():
    # 1 nat per token, 0.25 tokens per byte -> 0.25 / ln 2 bits per byte.
    assert bits_per_byte(1.0, 0.25) == pytest.approx(0.25 / math.log(2))
    assert bits_per_byte(1.0, None) is None

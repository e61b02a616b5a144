"""The tokenize stage's logic: train or load a SentencePiece BPE model, encode, assign shards.

The tokenizer is trained on a deterministic sample of the kept documents: the `sample_docs`
documents with the smallest stable hash of their id (a bottom-k, so any runner and any bundling
pick the same sample), fed to SentencePiece in hash order with a fixed random seed, so the same
kept set gives the same model bytes. Documents go to the train or val split, and to a shard
within it, by stable hashes of their id (plus, in a small run, the val_min_docs documents with the
smallest split hashes go to val). SentencePiece: Kudo and Richardson 2018; BPE: Sennrich
et al. 2016; the sampling and sharding follow FineWeb's and nanoGPT's data preparation.
No Beam here: `tokenmill.transforms.beam.tokenize` wraps these functions.
"""

from __future__ import annotations

import contextlib
import gc
import io
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from tokenmill.transforms.document import stable_hash
from tokenmill.transforms.token_shards import token_dtype
from tokenmill.transforms.typed_config import ConfigError, check_minimums

# Separate hash seeds, so the tokenizer sample, the split and the shard index are independent.
SAMPLE_SALT, SPLIT_SALT, SHARD_SALT = 0x5A, 0x5B, 0x5C
SPLIT_RESOLUTION = 1 << 20


@dataclass(frozen=True)
class TokenizeConfig:
    enabled: bool = True
    """Train or load a tokenizer and write tokens/ shards with a manifest."""
    model_path: str = ""
    """A SentencePiece .model to use instead of training one (local path, gs:// or s3://); copied to tokenizer/."""
    vocab_size: int = 32000
    """Pieces in the trained vocabulary, special and byte pieces included (GPT-2: 50257, Llama 2: 32000)."""
    allow_smaller_vocab: bool = False
    """When the sample supports fewer pieces than vocab_size, train the largest vocabulary it
    supports instead of failing (SentencePiece's hard_vocab_limit=false)."""
    sample_docs: int = 20000
    """Documents in the tokenizer's training sample (those with the smallest stable hash of their id)."""
    sample_max_chars: int = 20000
    """Characters of each sampled document used for training (bounds the sample's memory)."""
    max_sentence_bytes: int = 16384
    """Longest line SentencePiece trains on, in bytes; longer lines are skipped (SentencePiece: 4192)."""
    character_coverage: float = 0.9995
    """Share of the sample's characters that get their own piece; the rarest rest use byte fallback
    (SentencePiece recommends 0.9995 for languages with large alphabets, 1.0 for small ones)."""
    byte_fallback: bool = True
    """Encode characters outside the vocabulary as UTF-8 byte pieces instead of <unk>."""
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    """The separator the trainer puts between packed documents."""
    pad_id: int = 3
    num_threads: int = 1
    """Threads for training and for batched encoding (1 keeps training byte-for-byte reproducible)."""
    seed: int = 0
    """Seed of the sample hash, the split and shard hashes, and SentencePiece's random generator."""
    encode_batch: int = 256
    """Documents per SentencePiece encode call."""
    num_shards: int = 8
    """Train shards (tokens/train-*.parquet)."""
    val_shards: int = 1
    """Validation shards (tokens/val-*.parquet)."""
    val_fraction: float = 0.01
    """Share of documents in the validation split, chosen by a stable hash of their id."""
    val_min_docs: int = 4
    """Documents in the validation split however small the run: the ones with the smallest split
    hashes go there too, at most half of the run's documents. A 30-page run at val_fraction 0.01
    would otherwise expect 0.3 validation documents and train without a validation loss."""

    def __post_init__(self) -> None:
        if self.vocab_size < 1:
            raise ValueError(f"vocab_size must be positive, got {self.vocab_size}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.val_min_docs < 0:
            raise ValueError(f"val_min_docs must be at least 0, got {self.val_min_docs}")
        if self.num_shards < 1 or self.val_shards < 1:
            raise ValueError("num_shards and val_shards must be at least 1")
        if self.sample_docs < 1 or self.encode_batch < 1:
            raise ValueError("sample_docs and encode_batch must be at least 1")
        if self.eos_id < 0:
            raise ValueError("eos_id must be set: the trainer separates packed documents with it")
        check_minimums(self, sample_max_chars=1, max_sentence_bytes=1, num_threads=1)
        if not 0.0 < self.character_coverage <= 1.0:
            raise ValueError(f"character_coverage must be in (0, 1], got {self.character_coverage}")


class TokenizerError(ConfigError):
    """The tokenizer cannot be trained or used as configured; the message says what to change."""


def sample_key(doc_id: str, cfg: TokenizeConfig) -> int:
    """The bottom-k sample keeps the documents with the smallest keys."""
    return stable_hash(doc_id, seed=cfg.seed + SAMPLE_SALT)


def split_point(doc_id: str, cfg: TokenizeConfig) -> int:
    """Where a document falls in [0, SPLIT_RESOLUTION): below val_fraction of it means validation."""
    return stable_hash(doc_id, seed=cfg.seed + SPLIT_SALT) % SPLIT_RESOLUTION


def val_floor(smallest: Sequence[tuple[int, str]], total: int, cfg: TokenizeConfig) -> tuple[int, str] | None:
    """The largest (split point, id) that goes to validation whatever val_fraction gives: the k-th
    smallest of the run, k = min(val_min_docs, total // 2); None when k is 0.

    `smallest` holds the run's smallest (split point, id) pairs in order (at least k of them) and
    `total` counts the run's documents; both come from one global combine, so the choice is the
    same whatever the runner's bundling, and a large run's split is val_fraction's alone.
    """
    k = min(cfg.val_min_docs, total // 2, len(smallest))
    return tuple(smallest[k - 1]) if k else None


def assign_shard(doc_id: str, cfg: TokenizeConfig, floor: tuple[int, str] | None = None) -> tuple[str, int, int]:
    """(split, shard index, shard count) of a document, from stable hashes of its id; `floor` is
    `val_floor`'s answer for the run (None: val_fraction alone decides)."""
    point = split_point(doc_id, cfg)
    in_val = point < cfg.val_fraction * SPLIT_RESOLUTION or (floor is not None and (point, doc_id) <= tuple(floor))
    split, count = ("val", cfg.val_shards) if in_val else ("train", cfg.num_shards)
    return split, stable_hash(doc_id, seed=cfg.seed + SHARD_SALT) % count, count


def training_sentences(texts: Iterable[str], cfg: TokenizeConfig) -> Iterable[str]:
    """The non-empty lines of each text, after cutting each text to sample_max_chars."""
    for text in texts:
        for line in text[:cfg.sample_max_chars].split("\n"):
            if line.strip():
                yield line


_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_LOW = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


def train_tokenizer(texts: Sequence[str], cfg: TokenizeConfig) -> bytes:
    """Trains a SentencePiece BPE model on `texts` (in the order given); returns the .model bytes."""
    import sentencepiece as spm

    if not texts:
        raise TokenizerError("tokenize: no documents to train the tokenizer on "
                             "(set tokenize.model_path to a trained .model, or disable tokenize)")
    spm.set_random_generator_seed(cfg.seed)
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(list(training_sentences(texts, cfg))), model_writer=model,
            model_type="bpe", vocab_size=cfg.vocab_size, hard_vocab_limit=not cfg.allow_smaller_vocab,
            character_coverage=cfg.character_coverage, byte_fallback=cfg.byte_fallback,
            unk_id=cfg.unk_id, bos_id=cfg.bos_id, eos_id=cfg.eos_id, pad_id=cfg.pad_id,
            max_sentence_length=cfg.max_sentence_bytes, input_sentence_size=0, shuffle_input_sentence=False,
            num_threads=cfg.num_threads, minloglevel=2)
    except RuntimeError as err:
        raise TokenizerError(_explain(str(err), len(texts), cfg)) from None
    return model.getvalue()


def _explain(message: str, n_docs: int, cfg: TokenizeConfig) -> str:
    if m := _TOO_HIGH.search(message):
        return (f"tokenize.vocab_size={cfg.vocab_size} is more than the {n_docs:,} sampled documents support "
                f"(at most {int(m.group(2)):,} pieces): lower tokenize.vocab_size, feed more documents "
                "(tokenize.sample_docs), or set tokenize.allow_smaller_vocab=true")
    if m := _TOO_LOW.search(message):
        return (f"tokenize.vocab_size={cfg.vocab_size} is below the {int(m.group(2)):,} pieces the sample's "
                f"characters and special tokens need: raise tokenize.vocab_size or lower "
                f"tokenize.character_coverage (now {cfg.character_coverage})")
    return f"tokenize: SentencePiece training failed: {message}"


@dataclass(frozen=True)
class TokenizerInfo:
    """What the manifest records about the tokenizer, read from the model itself."""

    sha256: str
    vocab_size: int
    bos_id: int
    eos_id: int
    pad_id: int


def load_processor(model: bytes):
    """A SentencePieceProcessor from .model bytes; a model without eos cannot pack documents."""
    import sentencepiece as spm

    try:
        processor = spm.SentencePieceProcessor(model_proto=model)
    except RuntimeError as err:
        raise TokenizerError(f"tokenize: not a SentencePiece model ({err})") from None
    if processor.eos_id() < 0:
        raise TokenizerError("tokenize: the tokenizer has no eos piece; the trainer needs one to separate documents")
    return processor


def tokenizer_info(model: bytes) -> TokenizerInfo:
    import hashlib

    p = load_processor(model)
    return TokenizerInfo(hashlib.sha256(model).hexdigest(), p.get_piece_size(), p.bos_id(), p.eos_id(), p.pad_id())


def encode_batch(processor, texts: list[str], num_threads: int = 1) -> list[np.ndarray]:
    """Token arrays (uint16 or uint32 by vocabulary size) for a batch, in one SentencePiece call."""
    dtype = token_dtype(processor.get_piece_size())
    with _gc_paused():
        ids = processor.encode(texts, out_type=int, num_threads=num_threads)
        return [np.array(x, dtype=dtype) for x in ids]


@contextlib.contextmanager
def _gc_paused():
    # SentencePiece returns one Python int per token: millions of new objects that trigger the
    # cyclic GC, which then walks every live object of the worker (Beam's too). The lists hold no
    # cycles, so pausing it is safe; measured in a Beam job on 12 MB of text: 9.6 s -> 6.3 s.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

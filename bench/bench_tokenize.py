"""Tokenize stage throughput against SentencePiece encoding the same documents in a plain loop.

Documents: the kept text of a real `tokenmill run` on the WARCs in --data DIR/warc/ (tokenize off),
repeated under new ids to a few MB so a measurement takes seconds. One tokenizer (trained once,
from those documents, with the stage's own train_tokenizer) is used by every row:
- reference: `[sp.encode(text) for text in texts]`, the plain SentencePiece loop;
- encode_batch: the stage's encoding function (one SentencePiece call per batch, numpy arrays);
- TokenizeDocs: the whole Beam stage with the tokenizer supplied (encode, shard assignment,
  GroupByKey, Parquet zstd shards with checksums, manifest) on the DirectRunner, including
  reading the documents from a Parquet file (beam.Create would spend longer bz2-compressing
  megabytes of text into the pipeline proto than the stage spends encoding them);
- read only: the same job's Parquet read and count, to show what the reading costs.
Each row is the best of --repeats runs, interleaved, because the machine is shared: compare the
ratio column, not the absolute rates.

    .venv/bin/python bench/bench_tokenize.py --data DIR [--copies 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import shutil
import sys
import tempfile
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import sentencepiece as spm

sys.path.insert(0, str(Path(__file__).parent))
from common import add_data_argument, data_dir, peak_rss_mb, print_table, timed  # noqa: E402

from tokenmill.pipelines.cli import main as cli_main  # noqa: E402
from tokenmill.transforms.beam.tokenize import TokenizeDocs  # noqa: E402
from tokenmill.transforms.document import Document  # noqa: E402
from tokenmill.transforms.token_shards import Manifest  # noqa: E402
from tokenmill.transforms.tokenize import TokenizeConfig, encode_batch, load_processor, train_tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def kept_documents(data: Path, work: Path) -> list[Document]:
    out = work / "run"
    if cli_main(["run", "--input", str(data / "warc" / "*.gz"), "--output", str(out), "--config", "tiny", "--set", "tokenize.enabled=false"]):
        raise SystemExit("tokenmill run failed")
    table = pq.read_table(glob.glob(str(out / "docs" / "*.parquet")), columns=["id", "text"])
    return [Document(id=i, text=t) for i, t in zip(table.column("id").to_pylist(), table.column("text").to_pylist())]


def _read(p: beam.Pipeline, docs_file: Path):
    return (p | beam.io.ReadFromParquet(str(docs_file), columns=["id", "text"])
            | beam.Map(lambda row: Document(id=row["id"], text=row["text"])))


def run_stage(docs_file: Path, out: Path, cfg: TokenizeConfig) -> int:
    shutil.rmtree(out, ignore_errors=True)
    with beam.Pipeline(runner="DirectRunner") as p:
        _read(p, docs_file) | TokenizeDocs(str(out), cfg)
    return Manifest.from_json((out / "tokens" / "manifest.json").read_text()).total_tokens


def run_read_only(docs_file: Path) -> int:
    with beam.Pipeline(runner="DirectRunner") as p:
        _read(p, docs_file) | beam.combiners.Count.Globally()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=16, help="times the kept documents are repeated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab", type=int, default=8000)
    add_data_argument(parser, "warc")
    args = parser.parse_args()
    data = data_dir(args, "warc")
    work = Path(tempfile.mkdtemp(prefix="bench_tokenize_"))
    base = kept_documents(data, work)
    docs = [dataclasses.replace(d, id=f"{d.id}#{c}") for c in range(args.copies) for d in base]
    texts = [d.text for d in docs]
    docs_file = work / "docs.parquet"
    pq.write_table(pa.table({"id": [d.id for d in docs], "text": texts}), docs_file, compression="zstd")
    text_mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    model = train_tokenizer([d.text for d in base], TokenizeConfig(vocab_size=args.vocab, allow_smaller_vocab=True))
    (work / "tokenizer.model").write_bytes(model)
    cfg = TokenizeConfig(model_path=str(work / "tokenizer.model"), num_shards=4, val_fraction=0.05)
    sp, processor = spm.SentencePieceProcessor(model_proto=model), load_processor(model)

    best: dict[str, float] = {}
    tokens: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, fn in [
            ("reference: sp.encode loop", lambda: sum(len(sp.encode(t)) for t in texts)),
            ("encode_batch (stage function)", lambda: sum(len(a) for b in range(0, len(texts), 256)
                                                           for a in encode_batch(processor, texts[b:b + 256]))),
            ("TokenizeDocs (Beam stage, shards)", lambda: run_stage(docs_file, work / "stage", cfg)),
            ("read only (Beam, no tokenize)", lambda: run_read_only(docs_file)),
        ]:
            result: dict = {}
            with timed(result):
                tokens[name] = fn()
            best[name] = min(best.get(name, float("inf")), result["seconds"])
    ref = best["reference: sp.encode loop"]
    rows = [{"what": name, "docs": len(docs), "text_MB": text_mb, "tokens": tokens[name] or "", "best_s": seconds,
             "MB_per_s": text_mb / seconds, "vs_reference": ref / seconds} for name, seconds in best.items()]
    print_table(f"Tokenize throughput, {len(docs):,} documents ({args.copies} copies of the kept WARC text), "
                f"{processor.get_piece_size():,}-piece BPE, best of {args.repeats}", rows)
    print(f"\npeak RSS {peak_rss_mb():.0f} MiB; bar: TokenizeDocs vs_reference >= 0.7")
    assert len({n for n in tokens.values() if n}) == 1, f"token counts differ: {tokens}"
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""TokenizeDocs: kept documents to a SentencePiece tokenizer, token shards and their manifest.

The graph (element shapes in `expand`): a bottom-k sample of the kept documents trains the
tokenizer in one DoFn (or a supplied .model is loaded); its bytes reach every worker as a side
input and are loaded once per worker; documents are encoded in batches, keyed by shard, grouped,
and each shard is written under a temporary name and renamed when complete. The manifest is
written last, from the shards that were renamed, so a failed or repeated run never leaves a
manifest that lists a half-written shard (DESIGN.md section 2). A global combine over the split
hashes (ValFloor) reaches the encoder as a side input too, so a small run still gets val_min_docs
validation documents. Step labels: TrainTokenizer, ValFloor, EncodeDocs, WriteTokenShards, WriteManifest.

With a ledger, the CPU time of training, encoding and writing goes to `stats/tokenize.json` (the
report's cost of tokenizing), and the tokens per language to `stats/output.json`.
"""

from __future__ import annotations

import heapq
import logging
import uuid
from collections import Counter
from typing import Iterable

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tokenmill.transforms.document import Document
from tokenmill.transforms.stats import StageStats
from tokenmill.transforms.beam.stage import STATS, cpu_clock, in_global_window, process_cpu_clock
from tokenmill.transforms.token_shards import (MANIFEST_NAME, HashingWriter, Manifest, ShardInfo, shard_name,
                                               token_dtype, write_shard)
from tokenmill.transforms.tokenize import (TokenizeConfig, TokenizerError, assign_shard, encode_batch,
                                           load_processor, sample_key, split_point, tokenizer_info,
                                           train_tokenizer, val_floor)

log = logging.getLogger("tokenmill")

TOKENIZER_FILE = "tokenizer.model"
TOKENIZE, OUTPUT = "tokenize", "output"   # the ledger's stats/tokenize.json and stats/output.json


def _cost(seconds: float, **extra: int) -> beam.pvalue.TaggedOutput:
    stats = StageStats(TOKENIZE, seconds=seconds)
    stats.extra.update(extra)
    return beam.pvalue.TaggedOutput(STATS, in_global_window(stats))


def write_atomically(path: str, data: bytes) -> None:
    """Writes `data` to `path` through a temporary name in the same directory, then renames it."""
    tmp = _tmp_name(path)
    with FileSystems.create(tmp) as f:
        f.write(data)
    FileSystems.rename([tmp], [path])


def _tmp_name(path: str) -> str:
    directory, name = path.rsplit("/", 1)
    return f"{directory}/.{name}.tmp-{uuid.uuid4().hex[:12]}"


class BottomK(beam.CombineFn):
    """The k (key, id, text) triples with the smallest (key, id): a sample that is the same
    whatever the bundling, since bottom-k merges associatively and commutatively."""

    def __init__(self, k: int):
        self._k = k

    def create_accumulator(self) -> list:
        return []

    def add_input(self, acc: list, item: tuple[int, str, str]) -> list:
        acc.append(item)
        if len(acc) >= 2 * self._k:   # prune in batches: amortised O(log k) per input
            acc[:] = heapq.nsmallest(self._k, acc, key=_order)
        return acc

    def merge_accumulators(self, accs: Iterable[list]) -> list:
        return heapq.nsmallest(self._k, (item for acc in accs for item in acc), key=_order)

    def extract_output(self, acc: list) -> list[tuple[int, str, str]]:
        return heapq.nsmallest(self._k, acc, key=_order)   # sorted by (key, id)


def _order(item: tuple[int, str, str]) -> tuple[int, str]:
    return item[0], item[1]


class ValFloor(beam.CombineFn):
    """(split point, id) pairs -> `val_floor` of the run: a count and the val_min_docs smallest
    pairs, both associative, so any bundling gives the same floor."""

    def __init__(self, cfg: TokenizeConfig):
        self._cfg = cfg

    def create_accumulator(self) -> tuple[int, list]:
        return 0, []

    def add_input(self, acc: tuple[int, list], item: tuple[int, str]) -> tuple[int, list]:
        count, smallest = acc
        smallest.append(item)
        if len(smallest) >= 2 * max(self._cfg.val_min_docs, 1):   # prune in batches, as BottomK
            smallest[:] = heapq.nsmallest(self._cfg.val_min_docs, smallest)
        return count + 1, smallest

    def merge_accumulators(self, accs: Iterable[tuple[int, list]]) -> tuple[int, list]:
        accs = list(accs)
        return (sum(c for c, _ in accs),
                heapq.nsmallest(self._cfg.val_min_docs, (item for _, s in accs for item in s)))

    def extract_output(self, acc: tuple[int, list]) -> tuple[int, str] | None:
        count, smallest = acc
        return val_floor(heapq.nsmallest(self._cfg.val_min_docs, smallest), count, self._cfg)


class _TrainTokenizerFn(beam.DoFn):
    def __init__(self, cfg: TokenizeConfig, path: str):
        self._cfg, self._path = cfg, path

    def process(self, sample: list[tuple[int, str, str]]) -> Iterable[bytes]:
        if not sample:
            log.warning("tokenize: no kept documents, so no tokenizer and no token shards")
            return
        # SentencePiece trains on threads of its own, so the cost is this process's CPU time, not
        # the thread's; a DirectRunner runs this step alone (its input is the whole sample).
        started = process_cpu_clock()
        model = train_tokenizer([text for _, _, text in sample], self._cfg)
        write_atomically(self._path, model)
        yield _cost(process_cpu_clock() - started, train_documents=len(sample))
        pieces = tokenizer_info(model).vocab_size
        if pieces < self._cfg.vocab_size:
            log.warning("tokenize: the %d sampled documents support only %d of tokenize.vocab_size=%d pieces; "
                        "trained the smaller vocabulary (tokenize.allow_smaller_vocab)", len(sample), pieces,
                        self._cfg.vocab_size)
        log.info("tokenize: trained a %d-piece tokenizer on %d documents", pieces, len(sample))
        yield model


class _LoadTokenizerFn(beam.DoFn):
    def __init__(self, path: str):
        self._path = path

    def process(self, source: str) -> Iterable[bytes]:
        with FileSystems.open(source) as f:
            model = f.read()
        tokenizer_info(model)   # fails clearly on a file that is not a usable SentencePiece model
        write_atomically(self._path, model)
        yield model


class _WithTokenizer(beam.DoFn):
    """Base for DoFns that take the tokenizer bytes as a side input and load them once per worker."""

    _model: bytes | None = None

    def _tokenizer(self, models: list[bytes]):
        model = models[0]
        if model is not self._model and model != self._model:   # identity first: runners cache side inputs
            self._model, self._processor = model, load_processor(model)
        return self._processor


class _EncodeFn(_WithTokenizer):
    """Document -> (shard name, (id, token bytes, text bytes)), encoded in batches of encode_batch."""

    def __init__(self, cfg: TokenizeConfig):
        self._cfg = cfg

    def start_bundle(self) -> None:
        self._batch: list[Document] = []
        self._seconds, self._docs = 0.0, 0
        self._lang_tokens: Counter = Counter()

    def process(self, doc: Document, models: list[bytes],
                floor: tuple[int, str] | None) -> Iterable[tuple[str, tuple[str, bytes, int]]]:
        self._tokenizer(models)
        self._floor = floor
        self._batch.append(doc)
        if len(self._batch) >= self._cfg.encode_batch:
            yield from self._flush()

    def finish_bundle(self):
        for item in self._flush():
            yield in_global_window(item)
        if self._docs:
            yield _cost(self._seconds, documents=self._docs)
            output = StageStats(OUTPUT)
            output.categories["lang_tokens"] = self._lang_tokens
            yield beam.pvalue.TaggedOutput(STATS, in_global_window(output))

    def _flush(self) -> list:
        batch, self._batch = self._batch, []
        if not batch:
            return []
        # encode_batch may use several threads (tokenize.num_threads): process time counts them all
        started = process_cpu_clock() if self._cfg.num_threads != 1 else cpu_clock()
        encoded = encode_batch(self._processor, [d.text for d in batch], self._cfg.num_threads)
        rows = []
        for doc, tokens in zip(batch, encoded):
            split, index, count = assign_shard(doc.id, self._cfg, self._floor)
            self._lang_tokens[doc.lang or "(none)"] += len(tokens)
            rows.append((shard_name(split, index, count), (doc.id, tokens.tobytes(), len(doc.text.encode("utf-8")))))
        self._seconds += (process_cpu_clock() if self._cfg.num_threads != 1 else cpu_clock()) - started
        self._docs += len(batch)
        return rows


class _WriteShardFn(_WithTokenizer):
    """(shard name, rows) -> the shard file (temporary name, then renamed) -> ShardInfo."""

    def __init__(self, tokens_dir: str):
        self._dir = tokens_dir

    def process(self, keyed: tuple[str, Iterable[tuple[str, bytes, int]]], models: list[bytes]) -> Iterable[ShardInfo]:
        started = cpu_clock()
        name, rows = keyed
        vocab_size = self._tokenizer(models).get_piece_size()
        dtype = token_dtype(vocab_size)
        ordered = sorted(rows)   # by id: the same shard bytes whatever the runner delivered first
        path = FileSystems.join(self._dir, name)
        tmp = _tmp_name(path)
        out = HashingWriter(FileSystems.create(tmp))
        try:
            n_rows, n_tokens = write_shard(out, ((i, np.frombuffer(t, dtype)) for i, t, _ in ordered), vocab_size)
        finally:
            out.close()
        FileSystems.rename([tmp], [path])
        info = ShardInfo(name, name.split("-", 1)[0], n_rows, n_tokens, out.hexdigest(), sum(b for _, _, b in ordered))
        yield _cost(cpu_clock() - started, shards=1)
        yield info


class _WriteManifestFn(beam.DoFn):
    def __init__(self, tokens_dir: str):
        self._dir = tokens_dir

    def process(self, shards: list[ShardInfo], models: list[bytes]) -> Iterable[str]:
        if not models:
            return
        info = tokenizer_info(models[0])
        manifest = Manifest(info.sha256, info.vocab_size, info.bos_id, info.eos_id, info.pad_id,
                            tuple(sorted(shards, key=lambda s: s.path)), f"../tokenizer/{TOKENIZER_FILE}")
        path = FileSystems.join(self._dir, MANIFEST_NAME)
        write_atomically(path, manifest.to_json().encode("utf-8"))
        log.info("tokenize: %d shards, %d tokens", len(manifest.shards), manifest.total_tokens)
        yield path


class _ReadDocTexts(beam.DoFn):
    """A written docs/ file -> Document(id, text) per row: all that encoding needs."""

    def process(self, path: str) -> Iterable[Document]:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            # lang too: the report counts tokens per language
            for batch in pq.ParquetFile(f).iter_batches(batch_size=1024, columns=["id", "text", "lang"]):
                for row in batch.to_pylist():
                    yield Document(id=row["id"], text=row["text"], lang=row["lang"] or "")


class TokenizeDocs(beam.PTransform):
    """PCollection[Document] -> PCollection[str] (the manifest path, once the shards are complete).

    With `written` (the file names WriteDocs returns), the documents are encoded from those files:
    the encoder waits for the tokenizer, which needs a sample of every document, so documents
    handed over in memory would all wait at that fusion break (the FnApiRunner holds them in the
    launcher); the sample itself is a bottom-k, bounded by `sample_docs`.
    """

    def __init__(self, out_dir: str, cfg: TokenizeConfig, ledger=None, written=None):
        super().__init__()
        self._cfg, self._ledger, self._written = cfg, ledger, written
        self._tokens_dir = FileSystems.join(out_dir, "tokens")
        self._model_path = FileSystems.join(out_dir, "tokenizer", TOKENIZER_FILE)

    def _tokenizer(self, docs):
        cfg = self._cfg
        if cfg.model_path:
            if not FileSystems.exists(cfg.model_path):   # found while building the graph: one clear line
                raise TokenizerError(f"tokenize.model_path: no such file: {cfg.model_path}")
            return (docs.pipeline | "TokenizerSource" >> beam.Create([cfg.model_path])
                    | "LoadTokenizer" >> beam.ParDo(_LoadTokenizerFn(self._model_path)))
        # Document -> (sample key, id, first sample_max_chars of text) -> the bottom-k list -> model bytes
        trained = (docs
                   | "SampleKeys" >> beam.Map(lambda d: (sample_key(d.id, cfg), d.id, d.text[:cfg.sample_max_chars]))
                   | "SampleDocs" >> beam.CombineGlobally(BottomK(cfg.sample_docs))
                   | "TrainTokenizer" >> beam.ParDo(_TrainTokenizerFn(cfg, self._model_path))
                   .with_outputs(STATS, main="model"))
        self._stats.append(trained[STATS])
        return trained.model

    def expand(self, docs):
        cfg = self._cfg
        self._stats: list = []
        model = self._tokenizer(docs)                                    # PCollection[bytes], 0 or 1 element
        models = beam.pvalue.AsList(model)
        floor = (docs                                                    # the run's val_floor, or None
                 | "SplitPoints" >> beam.Map(lambda d: (split_point(d.id, cfg), d.id))
                 | "ValFloor" >> beam.CombineGlobally(ValFloor(cfg)))
        if self._written is not None:
            # docs/ file names -> spread over workers -> Document(id, text, lang)
            docs = (self._written
                    | "SpreadDocFiles" >> beam.Reshuffle()
                    | "ReadDocTexts" >> beam.ParDo(_ReadDocTexts()))
        encoded = (docs | "EncodeDocs" >> beam.ParDo(_EncodeFn(cfg), models, beam.pvalue.AsSingleton(floor))
                   .with_outputs(STATS, main="rows"))
        shards = (encoded.rows                                           # (shard name, (id, tokens, bytes))
                  | "GroupByShard" >> beam.GroupByKey()                  # (shard name, [(id, tokens, bytes)])
                  | "WriteTokenShards" >> beam.ParDo(_WriteShardFn(self._tokens_dir), models)
                  .with_outputs(STATS, main="shards"))                   # ShardInfo
        self._stats += [encoded[STATS], shards[STATS]]
        if self._ledger is not None:   # StageStats: the cost of tokenizing, tokens per language
            self._ledger.add_stats(tuple(self._stats) | "FlattenStats" >> beam.Flatten())
        return (shards.shards
                | "CollectShards" >> beam.combiners.ToList()                 # [ShardInfo], after every shard
                | "WriteManifest" >> beam.ParDo(_WriteManifestFn(self._tokens_dir), models))  # manifest path

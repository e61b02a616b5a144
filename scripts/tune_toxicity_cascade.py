"""Chooses the cascade's escalation threshold and per-document cap on validation data only.

    .venv/bin/python scripts/tune_toxicity_cascade.py --data DIR [--recall 0.98] [--inserted 181] [--chunk-chars 1000 400]

`toxicity.builtin_model: cascade` scores every chunk with the fast n-gram model and re-scores
with e5 the chunks whose fast score is >= `escalate_at` (at most `escalate_top` per document).
Both numbers are chosen here from the training data of scripts/train_toxicity.py, scored so that
no score comes from a head that saw the text (no held-out set of bench/bench_toxicity.py is read):
- Davidson tweets: 5-fold out-of-fold scores (seeded folds);
- RealToxicityPrompts and each clean source: scored by heads trained without that whole source,
  a domain the models never saw, as most web text is.

1. Threshold: for each candidate, the share of toxic validation texts the gate escalates
   (RealToxicityPrompts left out; Davidson), the share of clean texts escalated, and the ROC-AUC of
   the cascade score against e5 and fast alone. Chosen: the largest threshold that escalates at
   least `--recall` of the left-out RealToxicityPrompts texts: the fast model's misses there
   are what the cascade cannot recover.
2. Cap: left-out RealToxicityPrompts texts inserted as a paragraph at a random place into real
   news articles (scrapinghub gold texts, --data DIR/html/), chunked as the stage does; ROC-AUC of the
   document score (inserted vs the same articles untouched) of e5 on every chunk against the
   cascade with the chosen threshold and caps 0-3, and e5 chunks per article, per chunk size.
The e5 vectors come from the training script's cache (~/.cache/tokenmill/toxicity).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))
import toxicity_data as data  # noqa: E402
import train_toxicity as train  # noqa: E402
from bench_toxicity import news_articles, roc_auc  # noqa: E402
from common import add_data_argument, data_dir, print_table  # noqa: E402

from tokenmill.transforms.toxicity import cascade_scores, escalation_mask, split_chunks  # noqa: E402
from tokenmill.transforms.toxicity_models import E5Encoder  # noqa: E402
from tokenmill.transforms.toxicity_ngrams import BUCKETS, features  # noqa: E402

THRESHOLDS = (0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3)
RTP = "realtoxicityprompts"


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def ngram_matrix(texts):
    from scipy.sparse import csr_matrix

    indptr, indices, values = features([t[:1000] for t in texts])
    return csr_matrix((values.astype(np.float64), indices, indptr), shape=(len(texts), BUCKETS))


def fit_pair(x, f, y):
    """The two heads as train_toxicity.py fits them (same penalties, fast weights rounded to float16)."""
    w_e5, b_e5 = train.fit_logistic(x, y.astype(float), 3.0)
    w_fast, b_fast = train.fit_logistic_sparse(f, y.astype(float), 0.1)
    return w_e5, b_e5, w_fast.astype(np.float16).astype(np.float64), b_fast


def validation_logits(x, f, y, source, seed=0):
    """(e5 logits, fast logits, heads without RTP): Davidson out-of-fold, other sources left out whole."""
    le, lf = np.zeros(len(y)), np.zeros(len(y))
    davidson = source == "davidson"
    fold = np.random.default_rng(seed).integers(0, 5, len(y))
    for k in range(5):
        test = davidson & (fold == k)
        w_e5, b_e5, w_fast, b_fast = fit_pair(x[~test], f[~test], y[~test])
        le[test], lf[test] = x[test] @ w_e5 + b_e5, f[test] @ w_fast + b_fast
    for name in sorted(set(source) - {"davidson"}):
        test = source == name
        heads = fit_pair(x[~test], f[~test], y[~test])
        le[test], lf[test] = x[test] @ heads[0] + heads[1], f[test] @ heads[2] + heads[3]
        if name == RTP:
            rtp_heads = heads
        print(f"  scored {name} with heads trained without it", flush=True)
    return le, lf, rtp_heads


def threshold_rows(le, lf, y, source):
    pe, pf = sigmoid(le), sigmoid(lf)
    rtp, dav = source == RTP, source == "davidson"
    clean = (y == 0) & ~dav   # the prose sources (Davidson's "neither" tweets are not counted here)
    one = np.arange(len(y))   # every text its own one-chunk document
    rows = [{"model": "e5", "escalate_at": "-", "rtp_escalated": "-", "davidson_toxic_escalated": "-",
             "prose_escalated": "-", "auc_all": roc_auc(y, pe), "auc_rtp_vs_clean": roc_auc(y[~dav], pe[~dav])},
            {"model": "fast", "escalate_at": "-", "rtp_escalated": "-", "davidson_toxic_escalated": "-",
             "prose_escalated": "-", "auc_all": roc_auc(y, pf), "auc_rtp_vs_clean": roc_auc(y[~dav], pf[~dav])}]
    for t in THRESHOLDS:
        esc = escalation_mask(pf, one, np.ones(len(y), dtype=bool), t, 1)
        s = cascade_scores(pf, pe, esc, t)
        rows.append({"model": "cascade", "escalate_at": t, "rtp_escalated": esc[rtp].mean(),
                     "davidson_toxic_escalated": esc[dav & (y == 1)].mean(), "prose_escalated": esc[clean].mean(),
                     "auc_all": roc_auc(y, s), "auc_rtp_vs_clean": roc_auc(y[~dav], s[~dav])})
    return [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in rows]


def inserted_rows(toxic, heads, t, n, encoder, cache, chunk_chars, data_folder, seed=0):
    """Documents: n news articles untouched + the same n with one toxic text inserted as a paragraph,
    chunked by `chunk_chars` as the stage does."""
    rnd = np.random.default_rng(seed)
    articles = news_articles(data_folder, n)
    picks = rnd.choice(len(toxic), n, replace=False)
    docs = list(articles)
    for article, i in zip(articles, picks):
        paras = article.split("\n")
        at = int(rnd.integers(0, len(paras) + 1))
        docs.append("\n".join(paras[:at] + [toxic[i]] + paras[at:]))
    labels = np.r_[np.zeros(n), np.ones(n)]
    chunks = [split_chunks(d, chunk_chars) for d in docs]
    flat = [c for cs in chunks for c in cs]
    doc_of = np.repeat(np.arange(len(docs)), [len(cs) for cs in chunks])
    w_e5, b_e5, w_fast, b_fast = heads
    pe = sigmoid(data.embed_cached(flat, encoder, cache, chars=1000, log_every=256) @ w_e5 + b_e5)
    pf = sigmoid(ngram_matrix(flat) @ w_fast + b_fast)

    def doc_max(s):
        return np.array([s[doc_of == d].max() for d in range(len(docs))])

    rows = [{"model": "e5 (every chunk)", "chunk_chars": chunk_chars, "escalate_top": "-", "auc": roc_auc(labels, doc_max(pe)),
             "e5_chunks_per_article": len(flat) / len(docs)},
            {"model": "fast", "chunk_chars": chunk_chars, "escalate_top": "-", "auc": roc_auc(labels, doc_max(pf)), "e5_chunks_per_article": 0.0}]
    for top in (0, 1, 2, 3):
        esc = escalation_mask(pf, doc_of, np.ones(len(docs), dtype=bool), t, top)
        rows.append({"model": f"cascade at {t}", "chunk_chars": chunk_chars, "escalate_top": top,
                     "auc": roc_auc(labels, doc_max(cascade_scores(pf, pe, esc, t))),
                     "e5_chunks_per_article": esc.sum() / len(docs)})
    return [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in rows]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recall", type=float, default=0.98, help="escalated share of left-out toxic texts")
    parser.add_argument("--inserted", type=int, default=181, help="articles with a toxic paragraph inserted")
    parser.add_argument("--chunk-chars", type=int, nargs="+", default=[1000, 400], help="stage chunk sizes compared")
    parser.add_argument("--cache", type=Path, default=data.DEFAULT_CACHE)
    add_data_argument(parser, "toxicity", "udhr", "html")
    args = parser.parse_args(argv)
    folder = data_dir(args, "toxicity", "udhr", "html")
    train_args = argparse.Namespace(exclude=[], offensive=6000, clean_per_source=700, seed=0, cache=args.cache,
                                    data=folder)
    texts, y, counts = train.training_set(train_args)
    # training_set lists Davidson first (its three classes interleaved), then the other sources in order
    source = np.array(["davidson"] * sum(v for k, v in counts.items() if k.startswith("davidson")) +
                      [k for k, v in counts.items() if not k.startswith("davidson") for _ in range(v)])
    encoder = E5Encoder(threads=1)
    x = data.embed_cached(texts, encoder, args.cache, chars=1000)
    le, lf, rtp_heads = validation_logits(x, ngram_matrix(texts), y, source)
    rows = threshold_rows(le, lf, y, source)
    print_table("Cascade gate on validation texts (one chunk each)", rows)
    chosen = max(r["escalate_at"] for r in rows if r["model"] == "cascade" and r["rtp_escalated"] >= args.recall)
    print(f"\nchosen escalate_at: {chosen} (largest with RealToxicityPrompts escalated >= {args.recall})")
    toxic = [t for t, s in zip(texts, source) if s == RTP]
    rows = [r for chars in args.chunk_chars
            for r in inserted_rows(toxic, rtp_heads, chosen, args.inserted, encoder, args.cache, chars, folder)]
    print_table(f"Cap per document: {args.inserted} news articles with a left-out toxic text inserted, and untouched",
                rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

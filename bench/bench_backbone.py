"""Benchmark of the backbone: extraction quality, pipeline overhead, per-stage throughput, memory.

1. Quality: token-level precision/recall/F1 against the gold article text of the 181 pages of the
   scrapinghub article-extraction benchmark, for trafilatura and resiliparse called directly and
   for the pipeline (`tokenmill run` on a WARC made of those pages, extraction only).
2. Overhead: end-to-end documents/s of `tokenmill run` (read + extract, DirectRunner) against the
   extractor alone in a plain loop over the same pages, in the same run; ratio >= 0.8 wanted.
   Twice: on the benchmark's real pages repeated under new ids (--real-copies; real pages cost
   15-40 ms each to extract, as crawled pages do) and on small generated pages (--pages; ~1.5 ms
   each, where the fixed per-record costs of isolation, reading and Beam weigh most).
3. Reading: tokenmill's WARC reader against FastWARC's ArchiveIterator alone on the same files.
4. Per-stage figures from the run's report, MB/s, and peak memory.

    python bench/bench_backbone.py --data DIR [--pages 3000] [--real-copies 8] [--out bench/out/backbone]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import resource
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from common import add_data_argument, data_dir, print_table  # noqa: E402
from generate import GENERATOR_DATA, generate, warc_record, http_response  # noqa: E402

from tokenmill.transforms.document import Document  # noqa: E402
from tokenmill.transforms.extract import ExtractConfig, decode_html, extract_main_text  # noqa: E402
from tokenmill.transforms.warc import iter_warc  # noqa: E402

TOKEN = re.compile(r"\w+", re.UNICODE)


def load_benchmark_pages(data_dir: Path) -> list[tuple[str, str, bytes, str]]:
    """(id, url, html bytes, gold text) for each page of the article-extraction benchmark."""
    pages = []
    with tarfile.open(data_dir / "html" / "scrapinghub__article-extraction-benchmark.tar") as tar:
        members = {m.name: m for m in tar.getmembers()}
        truth = json.load(tar.extractfile(next(m for n, m in members.items() if n.endswith("ground-truth.json"))))
        for page_id, gold in sorted(truth.items()):
            member = next(m for n, m in members.items() if n.endswith(f"/{page_id}.html.gz"))
            pages.append((page_id, gold["url"], gzip.decompress(tar.extractfile(member).read()), gold["articleBody"]))
    return pages


def token_prf(predicted: str, gold: str) -> tuple[float, float, float]:
    """Bag-of-tokens precision, recall and F1 (the benchmark's own token-level measure)."""
    p, g = Counter(TOKEN.findall(predicted.lower())), Counter(TOKEN.findall(gold.lower()))
    common = sum((p & g).values())
    precision = common / sum(p.values()) if p else 0.0
    recall = common / sum(g.values()) if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def mean_prf(pairs: list[tuple[str, str]]) -> dict:
    scores = [token_prf(pred, gold) for pred, gold in pairs]
    return {k: sum(s[i] for s in scores) / len(scores) for i, k in enumerate(("precision", "recall", "f1"))}


def write_pages_warc(pages, path: Path, copies=(None,)) -> None:
    """The pages as WARC responses, once per copy; a copy number makes its record ids distinct."""
    with open(path, "wb") as f:
        for copy in copies:
            suffix = "" if copy is None else f":{copy}"
            for page_id, url, html, _ in pages:
                headers = {"WARC-Type": "response", "WARC-Record-ID": f"<urn:aeb:{page_id}{suffix}>",
                           "WARC-Target-URI": url, "WARC-Date": "2024-01-01T00:00:00Z",
                           "Content-Type": "application/http; msgtype=response"}
                f.write(gzip.compress(warc_record(headers, http_response(200, "text/html", html)), mtime=0))


def run_pipeline(inputs: str, out: Path, *flags: str) -> tuple[dict, float, float]:
    """Runs `tokenmill run` with no filter stages and no tokenizer (read, extract, write: what the
    extractor loop is compared with); returns (report, wall seconds, peak RSS of the job's processes in MiB)."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-m", "tokenmill.pipelines.cli", "run", "--input", inputs, "--output", str(out),
                    "--set", "filters.order=[]", "--set", "tokenize.enabled=false", *flags],
                   check=True, capture_output=True)
    seconds = time.perf_counter() - started
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    return json.loads((out / "report" / "report.json").read_text()), seconds, peak


def pipeline_texts(out: Path) -> dict[str, str]:
    table = pq.read_table(out / "docs", columns=["id", "text"])
    return dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))


def quality(pages, work: Path) -> list[dict]:
    rows = []
    for backend in ("trafilatura", "resiliparse"):
        cfg = ExtractConfig(backend=backend)
        direct = [(extract_main_text(decode_html(html)[0], url, cfg), gold) for _, url, html, gold in pages]
        rows.append({"extractor": f"{backend} called directly", **mean_prf(direct)})
        out = work / f"aeb-{backend}"
        run_pipeline(str(work / "aeb.warc.gz"), out, "--set", f"extract.backend={backend}")
        texts = pipeline_texts(out)
        # A page the pipeline dropped (no text) scores 0, exactly as an empty direct extraction does.
        piped = [(texts.get(f"urn:aeb:{page_id}", ""), gold) for page_id, _, _, gold in pages]
        rows.append({"extractor": f"{backend} in tokenmill run", **mean_prf(piped)})
    return rows


def overhead(gen_dir: Path, work: Path, backend: str) -> tuple[list[dict], dict]:
    """The extractor alone in a loop vs the whole pipeline, on the same WARC pages."""
    records = [d for f in sorted(gen_dir.glob("*.warc.gz"))
               for d in iter_warc(io.BytesIO(f.read_bytes()), f.name) if isinstance(d, Document)]
    pages = [d for d in records if d.record_type == "response" and d.http_status == 200
             and d.content_type.startswith("text/html") and d.html and d.html[:1] == b"<"]
    cfg = ExtractConfig(backend=backend)
    extract_main_text("<html><body><p>warm up</p></body></html>", "", cfg)
    started = time.perf_counter()
    for d in pages:
        extract_main_text(decode_html(d.html, d.charset)[0], d.url, cfg)
    loop_s = time.perf_counter() - started
    mb = sum(f.stat().st_size for f in gen_dir.glob("*.warc.gz")) / 2**20
    rows = [{"what": f"{backend} alone, plain loop", "pages": len(pages), "seconds": loop_s,
             "pages_per_s": len(pages) / loop_s, "ratio": 1.0, "MB_per_s": "", "peak_MiB": ""}]
    for label, flags in (("tokenmill run, in_memory", ["--direct_running_mode=in_memory"]),
                         ("tokenmill run, 2 processes", ["--direct_running_mode=multi_processing",
                                                         "--direct_num_workers=2"])):
        report, seconds, peak = run_pipeline(str(gen_dir / "*.warc.gz"), work / "gen-run", "--set",
                                             f"extract.backend={backend}", *flags)
        extracted = report["stages"][1]["seen"]
        rows.append({"what": label, "pages": extracted, "seconds": seconds, "pages_per_s": extracted / seconds,
                     "ratio": (extracted / seconds) / (len(pages) / loop_s), "MB_per_s": mb / seconds,
                     "peak_MiB": peak})
        last_report = report
    return rows, last_report


def reading(gen_dir: Path) -> list[dict]:
    """Records/s of tokenmill's reader (framing + FastWARC parse per record) vs FastWARC alone."""
    from fastwarc.warc import ArchiveIterator

    files = [f.read_bytes() for f in sorted(gen_dir.glob("*.warc.gz"))]
    mb = sum(len(f) for f in files) / 2**20
    started = time.perf_counter()
    n_ref = sum(1 for data in files for r in ArchiveIterator(io.BytesIO(data), parse_http=True, auto_decode="all")
                if r.reader.read() is not None)
    ref_s = time.perf_counter() - started
    started = time.perf_counter()
    n_ours = sum(1 for data in files for _ in iter_warc(io.BytesIO(data), "f.warc.gz"))
    ours_s = time.perf_counter() - started
    return [
        {"reader": "FastWARC ArchiveIterator alone", "records": n_ref, "records_per_s": n_ref / ref_s,
         "MB_per_s": mb / ref_s, "ratio": 1.0},
        {"reader": "tokenmill iter_warc (robust framing)", "records": n_ours, "records_per_s": n_ours / ours_s,
         "MB_per_s": mb / ours_s, "ratio": (n_ours / ours_s) / (n_ref / ref_s)},
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3000, help="generated pages for the overhead run")
    parser.add_argument("--real-copies", type=int, default=8,
                        help="copies of the 181 real benchmark pages for the real-page overhead run (4 files)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/backbone"))
    add_data_argument(parser, *GENERATOR_DATA)
    args = parser.parse_args(argv)
    data = data_dir(args, *GENERATOR_DATA)
    args.out.mkdir(parents=True, exist_ok=True)

    pages = load_benchmark_pages(data)
    write_pages_warc(pages, args.out / "aeb.warc.gz")
    print_table(f"Extraction quality on {len(pages)} article-extraction-benchmark pages (token level, mean per page)",
                quality(pages, args.out))

    gen_dir = args.out / f"gen{args.pages}"
    if not gen_dir.exists():
        generate(gen_dir, args.pages, per_file=max(args.pages // 4, 1), seed=0, near_dup_rate=0.1, broken_rate=0.02,
                 data_dir=data)
    clean_dir = args.out / f"clean{args.pages}"   # FastWARC stops at the first broken record
    if not clean_dir.exists():
        generate(clean_dir, args.pages, per_file=max(args.pages // 4, 1), seed=0, near_dup_rate=0.1, broken_rate=0.0,
                 data_dir=data)
    print_table("WARC reading, generated files without damage", reading(clean_dir))
    real_dir = args.out / f"real{args.real_copies}"
    if not real_dir.exists():
        real_dir.mkdir()
        for i in range(4):   # 4 files, so that 2 workers share them
            write_pages_warc(pages, real_dir / f"aeb-{i}.warc.gz", range(i, args.real_copies, 4))
    for backend in ("trafilatura", "resiliparse"):
        rows, _ = overhead(real_dir, args.out, backend)
        print_table(f"Pipeline overhead on {len(pages)} real pages x {args.real_copies}, {backend} "
                    "(ratio = pipeline pages/s / plain loop pages/s; want >= 0.8)", rows)
        rows, report = overhead(gen_dir, args.out, backend)
        print_table(f"Pipeline overhead on {args.pages} small generated pages, {backend} (same ratio)", rows)
        print_table(f"Per stage in the 2-process run, {backend} (stage seconds summed over workers)", [
            {"stage": s["name"], "seen": s["seen"], "kept": s["kept"], "stage_seconds": s["seconds"],
             "docs_per_s_per_worker": s["docs_per_s"] or 0.0} for s in report["stages"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())

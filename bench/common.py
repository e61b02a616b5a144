"""Shared helpers for the benchmark scripts: timing, peak memory, and the printed table.

Every benchmark measures tokenmill and a reference (the raw library call) in the same run and
prints their ratio, because the machine is shared and noisy: compare ratios, not absolute times.
"""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager


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

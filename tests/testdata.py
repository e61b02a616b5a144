"""Shared by the tests (importable as `testdata`): where the real data is, and running the CLI.

All of it is inside the repository: the sample WARCs of the README's first run (samples/) and
small real excerpts under tests/data/ (origins and licences in tests/data/SOURCES.md). No test
reads anything outside the checkout.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES_DIR = REPO / "samples"
TEST_DATA = REPO / "tests" / "data"
# The real web archives the tests read: the three samples plus three more under tests/data/warc.
REAL_WARCS = sorted([*SAMPLES_DIR.glob("*.gz"), *(TEST_DATA / "warc").glob("*.gz")], key=lambda p: p.name)
AUT = "aut__heritrix-archive.org-2008_example_head420.warc.gz"


def warc(name: str) -> Path:
    """One of REAL_WARCS by file name."""
    found = [p for p in REAL_WARCS if p.name == name]
    assert found, f"{name} is neither in samples/ nor in tests/data/warc/"
    return found[0]


def demo_argv(extra: list[str] = ()) -> list[str]:
    """`tokenmill` arguments of scripts/demo.sh's run line, with `extra` in place of "$@"."""
    line = next(line for line in (REPO / "scripts" / "demo.sh").read_text().splitlines() if "tokenmill run " in line)
    argv = shlex.split(line.split("tokenmill", 1)[1])
    return [a for arg in argv for a in (list(extra) if arg == "$@" else [arg])]


def run_cli(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs `tokenmill ...` as a user would, with the interpreter running the tests."""
    return subprocess.run([sys.executable, "-m", "tokenmill.pipelines.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


# Ordinary prose that passes every quality rule: the quality and filter-stage tests build their
# kept and dropped cases from it (the first six sentences are about 80 words).
MILL_SENTENCES = [
    "The river runs past the old mill and the village that grew up around it.",
    "Farmers brought their grain to be ground there for more than two hundred years.",
    "When the railway arrived, the mill closed and the building stood empty for decades.",
    "A group of volunteers restored the wheel with help from the local museum.",
    "Today visitors can watch the machinery turn and buy flour made on site.",
    "The museum also keeps records of the families who worked at the mill.",
    "Children from nearby schools come every spring to learn how water power works.",
    "Most of them have never seen a machine that runs without any electricity.",
]


def union_find_minimum(edges) -> dict:
    """Reference connected components: node -> smallest node of its component (single machine)."""
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in list(parent)}

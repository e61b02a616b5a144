"""Shared by the tests (importable as `testdata`): where the real data is, and running the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
WARC_DIR = SHARED_DATA / "warc"


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

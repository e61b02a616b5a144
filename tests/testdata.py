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

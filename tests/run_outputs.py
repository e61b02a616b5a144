"""Shared by the runner tests (importable as `run_outputs`): what a run wrote, and its processes.

A run on another runner must write exactly what the DirectRunner writes for the same input: the
kept documents, the rejects, the dead letters, the report's figures (timings aside) and the token
shards (their sha256 in the manifest). Processes that a test starts live in sessions of their
own and are stopped with everything in them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq

TIMING_KEY = re.compile(r"(^|_)seconds$|^docs_per_s$")   # the only report figures allowed to differ


def free_port() -> int:
    """A loopback port that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_members(sid: int) -> list[str]:
    """Live processes of session `sid` (one started with start_new_session), as 'pid cmdline'."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:    # the process ended while we looked
            continue
        # fields after "pid (comm)": state ppid pgrp session ...; a zombie is already gone
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(f"{stat.parent.name} {cmdline.strip()}")
    return found


def stop_session(proc: subprocess.Popen) -> list[str]:
    """SIGTERM then SIGKILL to the whole session of `proc`; returns what is still alive after."""
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.poll() is not None and not session_members(proc.pid):
                return []
            time.sleep(0.2)
    proc.poll()
    return session_members(proc.pid)


def tokenmill_run(tokenmill: Path, cwd: Path, inputs: list[str], output: str, flags: list[str],
                  timeout_s: float) -> Path:
    """Runs `tokenmill run` from `cwd` in a session of its own; returns the output directory."""
    argv = [str(tokenmill), "run", "--input", *inputs, "--output", output, *flags]
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    finally:
        left = stop_session(proc)
    assert proc.returncode == 0, f"{' '.join(argv)} failed ({proc.returncode}):\n{out.decode(errors='replace')[-5000:]}"
    assert not left, f"processes left by tokenmill run: {left}"
    return cwd / output


def kept(out_dir: Path) -> set[tuple[str, str]]:
    rows = set()
    for part in sorted((out_dir / "docs").glob("*.parquet")):
        rows |= {(r["id"], r["text"]) for r in pq.read_table(part, columns=["id", "text"]).to_pylist()}
    return rows


def side_outputs(out_dir: Path) -> tuple[set, list[str]]:
    """The other files the workers write: rejected/<stage>/*.parquet rows and errors/*.jsonl lines."""
    rejected = set()
    for part in sorted((out_dir / "rejected").glob("*/*.parquet")):
        rejected |= {(r["id"], r["stage"], r["reason"], r["text"])
                     for r in pq.read_table(part, columns=["id", "stage", "reason", "text"]).to_pylist()}
    errors = sorted(line for part in (out_dir / "errors").glob("*.jsonl") for line in part.read_text().splitlines())
    return rejected, errors


def without_timings(value):
    """The value with every timing entry (`seconds`, `sign_seconds`, `docs_per_s`, ...) removed, at any depth."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not TIMING_KEY.search(k)}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def report_figures(out_dir: Path) -> dict:
    report = json.loads((out_dir / "report" / "report.json").read_text())
    files_records_bytes = {k: report["input"][k] for k in ("files", "records", "bytes")}
    manifest = out_dir / "tokens" / "manifest.json"   # tokenizer and shard sha256s: byte-identical output
    return {"input": files_records_bytes, "stages": without_timings(report["stages"]), "output": report["output"],
            "manifest": json.loads(manifest.read_text()) if manifest.exists() else None}


def outputs(out_dir: Path) -> dict:
    """Everything compared between runners, in one value."""
    rejected, errors = side_outputs(out_dir)
    return {"kept": kept(out_dir), "figures": report_figures(out_dir), "rejected": rejected, "errors": errors}

"""Per-stage worker memory under the FnApiRunner (DirectRunner), for benchmarks.

`StageMemoryProbe` patches `FnApiRunner._execute_bundle` to know which fused stage is running and
samples the RSS of the SDK worker processes (multi_processing mode) meanwhile, so a benchmark can
say which step needed memory, not only the whole job's peak.
"""

from __future__ import annotations

import os
import re
import threading
import time


class StageMemoryProbe:
    """Which fused stage the FnApiRunner is executing, and the RSS of its worker processes meanwhile.

    A sampler thread reads VmRSS of this process's descendants (the SDK workers of multi_processing
    mode) every 50 ms and keeps, per stage, the largest worker RSS seen while that stage ran. RSS
    is a high-water mark in practice (freed memory stays with the allocator), so the stage that
    raises the maximum is the one that needed the memory.
    """

    def __init__(self):
        from apache_beam.runners.portability.fn_api_runner import fn_runner

        self.current = "startup"
        self.peaks: dict[str, float] = {}
        self._stop = False
        original = fn_runner.FnApiRunner._execute_bundle
        probe = self

        def execute_bundle(runner, context, bundle_context_manager, bundle_input):
            probe.current = bundle_context_manager.stage.name
            return original(runner, context, bundle_context_manager, bundle_input)

        fn_runner.FnApiRunner._execute_bundle = execute_bundle
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _children(self) -> list[str]:
        """All descendants (the SDK workers run under a shell wrapper)."""
        parent = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    parent[pid] = f.read().rsplit(")", 1)[1].split()[1]
            except OSError:
                continue
        found, frontier = [], {str(os.getpid())}
        while frontier:
            frontier = {pid for pid, ppid in parent.items() if ppid in frontier}
            found += frontier
        return found

    @staticmethod
    def _rss_mb(pid: str) -> float:
        try:
            with open(f"/proc/{pid}/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
        except (OSError, StopIteration):
            return 0.0

    def _sample(self) -> None:
        children: list[str] = []
        ticks = 0
        while not self._stop:
            if ticks % 20 == 0:
                children = self._children()
            rss = max((self._rss_mb(pid) for pid in children), default=0.0)
            stage = self.current
            self.peaks[stage] = max(self.peaks.get(stage, 0.0), rss)
            ticks += 1
            time.sleep(0.05)

    def stop(self) -> dict[str, float]:
        self._stop = True
        self._thread.join()
        return self.peaks


def step_names(stage: str) -> str:
    """Readable names of the transforms fused into a FnApiRunner stage."""
    parts = [p.split("_", 2)[-1] if p.startswith("ref_AppliedPTransform_") else p
             for p in stage.strip("()").replace("(", "").replace(")", "").split("+")]
    steps = [re.sub(r"_\d+$", "", p) for p in parts if p and not p.startswith("ref_PCollection")]
    return " + ".join(dict.fromkeys(steps))[:150] or stage[:150]

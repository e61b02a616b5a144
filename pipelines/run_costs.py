"""The run's CPU time outside tokenmill's steps, measured in phases rather than left as a remainder.

The steps measure themselves (stage seconds, the `tokenmill.cost` counters). What they cannot
see is the launcher's and the runner's own work; on the bundled samples that was 40-85% of the
job. This module measures it in the launcher with getrusage (this process plus the child
processes it has reaped, so workers and helper processes count once they have exited):

- start-up: from `tokenmill run`'s start to `pipeline.run()`: importing Beam and tokenmill,
  reading the config, checking inputs, building the graph;
- planning: from `pipeline.run()` until the local FnApiRunner starts executing its fused stages:
  the graph's translation to protos (pickling every DoFn) and fusion;
- the launcher during the stages, with the DirectRunner's multi_processing mode only: there the
  workers are child processes and this process is the runner alone (scheduling, the shuffles'
  buffers, the data plane to and from the workers);
- building bundles' operators, when the bundles run in this process (in_memory, multi_threading):
  the thread CPU of each BundleProcessor's create_execution_tree (unpickling the DoFns).

Only the DirectRunner's FnApiRunner running in this process can be timed this way (its
`run_stages` is wrapped while the job runs); other runners report start-up alone. The worker
processes' own start-up is measured in each worker (transforms/beam/worker_startup.py). The total
is read after `run_stages` has stopped the workers: the FnApiRunner waits for their processes, so
their CPU (and that of the helper processes they waited for) is in RUSAGE_CHILDREN by then.
"""

from __future__ import annotations

import contextlib
import functools
import resource
import threading
import time
from dataclasses import dataclass, field


def process_cpu() -> tuple[float, float]:
    """(this process, its reaped child processes): user + system CPU seconds since each started."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def total_cpu() -> float:
    return sum(process_cpu())


@dataclass
class StageClock:
    """process_cpu() when the runner started and finished executing its stages (None: not seen),
    and the CPU seconds this process's threads spent building bundles' operators."""

    entered: tuple[float, float] | None = None
    left: tuple[float, float] | None = None
    operators: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_operators(self, seconds: float) -> None:
        with self._lock:   # the multi_threading mode builds bundles on several threads
            self.operators += seconds

    def launcher_seconds(self) -> float | None:
        """This process's own CPU while the stages ran (children excluded)."""
        if self.entered is None or self.left is None:
            return None
        return self.left[0] - self.entered[0]


@contextlib.contextmanager
def clock_stages():
    """While the block runs, FnApiRunner.run_stages records when it starts and ends in the yielded
    StageClock, and each BundleProcessor built in this process (in_memory and multi_threading
    workers) adds the thread CPU of building its operators: unpickling the DoFns, Beam's operator
    objects. That comes before any DoFn's setup(), so no step's clock overlaps it. Restored
    afterwards; a Beam without these methods leaves the clock empty."""
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.worker import bundle_processor

    clock, original = StageClock(), getattr(fn_runner.FnApiRunner, "run_stages", None)
    build = getattr(bundle_processor.BundleProcessor, "create_execution_tree", None)
    if original is None or build is None:
        yield clock
        return

    @functools.wraps(build)
    def timed_build(self, *args, **kwargs):
        started = time.thread_time()
        try:
            return build(self, *args, **kwargs)
        finally:
            clock.add_operators(time.thread_time() - started)

    @functools.wraps(original)
    def timed(self, *args, **kwargs):
        clock.entered = process_cpu()
        try:
            return original(self, *args, **kwargs)
        finally:
            clock.left = process_cpu()

    fn_runner.FnApiRunner.run_stages = timed
    bundle_processor.BundleProcessor.create_execution_tree = timed_build
    try:
        yield clock
    finally:
        fn_runner.FnApiRunner.run_stages = original
        bundle_processor.BundleProcessor.create_execution_tree = build


@dataclass(frozen=True)
class LauncherCosts:
    """The run's CPU seconds by phase, all measured; None where the phase was not seen."""

    total: float
    """From the launcher's start to the job's end: every row below and the steps fall inside it."""
    startup: float
    planning: float | None
    launcher_during_stages: float | None
    """Only when the workers are separate processes (multi_processing); None otherwise."""
    operators: float | None = None
    """Building bundles' operators in this process; None when no bundle ran here."""

    def as_dict(self) -> dict[str, float]:
        rows = {"startup": self.startup, "planning": self.planning, "runner": self.launcher_during_stages,
                "operators": self.operators}
        return {name: round(seconds, 3) for name, seconds in rows.items() if seconds is not None}


def launcher_costs(started: float, before_run: float, ended: float, clock: StageClock,
                   workers_in_subprocesses: bool) -> LauncherCosts:
    """The phases from total_cpu() readings at the launcher's start, at `pipeline.run()` and at
    the job's end, and the stage clock (a pure function of the readings)."""
    planning = None if clock.entered is None else sum(clock.entered) - before_run
    runner = clock.launcher_seconds() if workers_in_subprocesses else None
    return LauncherCosts(ended - started, before_run - started, planning, runner, clock.operators or None)

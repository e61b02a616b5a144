"""A worker process's start-up, measured in the worker: its CPU before tokenmill's first step there.

With the DirectRunner's multi_processing mode (and on a cluster) every worker is a Python process
of its own that starts the SDK harness, imports Beam, unpickles the job's DoFns (importing
tokenmill and its libraries) before any step runs. No step's clock sees that, and on the bundled
samples it was a third of the job. The worker measures it itself: getrusage(RUSAGE_SELF) (all its
threads, user + system) at the first call of a step clock (stage.cpu_clock / process_cpu_clock,
which start every measured interval), so it never overlaps a step's seconds. It leaves as the
`tokenmill.cost/worker_startup_cpu_us` counter, once per process, from inside a bundle (a runner
records metrics per bundle). The launcher is not charged: its start-up is a row of its own
(pipelines/run_costs.py), and with in_memory or multi_threading workers it is the only process.
"""

from __future__ import annotations

import os
import resource

from apache_beam.metrics import Metrics

COST_NAMESPACE = "tokenmill.cost"   # Beam counters of CPU microseconds spent outside the stages
LAUNCHER_PID = "TOKENMILL_LAUNCHER_PID"   # set by run_job; a worker that inherits it knows it is not the launcher

_before_first_step: float | None = None   # this process's CPU seconds when a step clock first ran
_charged = False


def note_first_step() -> None:
    """Called by the step clocks: reads the process's CPU at the first call only."""
    global _before_first_step
    if _before_first_step is None:
        own = resource.getrusage(resource.RUSAGE_SELF)
        _before_first_step = own.ru_utime + own.ru_stime


def charge_startup() -> None:
    """Inside a bundle: adds this worker's start-up to the counter, once per process."""
    global _charged
    if _charged or _before_first_step is None:
        return
    _charged = True
    if os.environ.get(LAUNCHER_PID) != str(os.getpid()):
        Metrics.counter(COST_NAMESPACE, "worker_startup_cpu_us").inc(int(_before_first_step * 1e6))

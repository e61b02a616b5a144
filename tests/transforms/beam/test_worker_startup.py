"""A worker process charges its start-up (its CPU before the first step clock ran) once, and the
launcher, whose start-up is a row of its own, never."""

from __future__ import annotations

import os
import resource

import pytest

from tokenmill.transforms.beam import worker_startup
from tokenmill.transforms.beam.stage import cpu_clock


class _FakeMetrics:
    """Stands in for beam.metrics.Metrics: records what the counters were incremented by."""

    def __init__(self):
        self.added: dict[tuple[str, str], int] = {}

    def counter(self, namespace: str, name: str):
        added = self.added

        class _Counter:
            def inc(self, n: int) -> None:
                added[(namespace, name)] = added.get((namespace, name), 0) + n
        return _Counter()


@pytest.fixture
def fresh_process(monkeypatch) -> _FakeMetrics:
    """The module as in a process where no step clock has run yet."""
    metrics = _FakeMetrics()
    monkeypatch.setattr(worker_startup, "Metrics", metrics)
    monkeypatch.setattr(worker_startup, "_before_first_step", None)
    monkeypatch.setattr(worker_startup, "_charged", False)
    return metrics


def test_a_worker_charges_its_start_up_once_measured_at_its_first_step_clock(fresh_process, monkeypatch):
    monkeypatch.setenv(worker_startup.LAUNCHER_PID, str(os.getpid() + 1))   # launched by another process
    worker_startup.charge_startup()
    assert fresh_process.added == {}   # no step has run: nothing measured yet, nothing charged
    cpu_clock()   # the first step starts its clock: the start-up ends here
    own = resource.getrusage(resource.RUSAGE_SELF)
    worker_startup.charge_startup()
    worker_startup.charge_startup()   # later bundles charge nothing more
    ((key, micros),) = fresh_process.added.items()
    assert key == (worker_startup.COST_NAMESPACE, "worker_startup_cpu_us")
    assert 0 < micros <= (own.ru_utime + own.ru_stime) * 1e6


def test_the_launcher_never_charges_a_worker_start_up(fresh_process, monkeypatch):
    monkeypatch.setenv(worker_startup.LAUNCHER_PID, str(os.getpid()))   # in_memory: the steps run in the launcher
    cpu_clock()
    worker_startup.charge_startup()
    assert fresh_process.added == {}

"""IsolatedFunction reports the CPU its child spends, so the extract stage's cost includes it."""

from __future__ import annotations

import time

from tokenmill.transforms.isolated import IsolatedFunction, Limits


def test_the_childs_cpu_time_is_counted_startup_included():
    isolated, numbers = IsolatedFunction("builtins:sum", Limits(seconds=60)), range(3_000_000)
    expected = sum(numbers)
    try:
        assert isolated(numbers) == expected
        first = isolated.cpu_seconds
        parent_started = time.thread_time()
        total = isolated(numbers)
        parent = time.thread_time() - parent_started
        assert total == expected
        second = isolated.cpu_seconds - first
    finally:
        isolated.close()
    assert second > 0.01                     # the sum itself, computed in the child
    assert first > second                    # the first answer also carries the child's start (Python, imports)
    assert parent < second                   # the parent only waited: its own thread time is not the work

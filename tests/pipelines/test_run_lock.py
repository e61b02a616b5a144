"""The claim on OUT (pipelines/run_lock.py): one winner among runs starting together, holders named right.

The CLI's view of it (refusals, Ctrl-C, a killed run, --force) is in test_cli_misuse.py; here the
parts underneath, without a pipeline.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys

import pytest

from tokenmill.pipelines import run_lock
from tokenmill.pipelines.run_lock import INCOMPLETE, LOCK, Holder, OutputBusy, claim, status_line


ROUNDS, RUNS = 10, 6


def _claim_each_round(base: str, barrier, results) -> None:
    for r in range(ROUNDS):
        barrier.wait()   # every run starts the round's claim at the same moment
        try:
            claim(os.path.join(base, str(r)))
            results.put((r, os.getpid()))
        except OutputBusy:
            results.put((r, None))


def test_of_many_runs_starting_at_once_exactly_one_claims(tmp_path):
    # The outcome of simultaneous starts: one winner per round, named by the claim, no temporary files.
    # Measured: a check-then-create claim also passed most tries here (started processes rarely
    # interleave inside its microsecond window), so the atomicity itself rests on link(2), not this test.
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(RUNS), ctx.Queue()
    procs = [ctx.Process(target=_claim_each_round, args=(str(tmp_path), barrier, results)) for _ in range(RUNS)]
    for p in procs:
        p.start()
    winners: dict[int, list[int]] = {r: [] for r in range(ROUNDS)}
    for _ in range(ROUNDS * RUNS):
        r, pid = results.get(timeout=120)
        if pid is not None:
            winners[r].append(pid)
    for p in procs:
        p.join(timeout=60)
    assert all(len(w) == 1 for w in winners.values()), winners
    for r, (pid,) in winners.items():
        out = tmp_path / str(r)
        assert json.loads((out / LOCK).read_text())["pid"] == pid
        assert sorted(p.name for p in out.iterdir()) == [INCOMPLETE, LOCK]   # no temporary files left


def test_the_fallback_for_stores_without_create_if_absent_refuses_an_existing_claim(tmp_path):
    path = str(tmp_path / LOCK)
    assert run_lock._create_checked(path, b"first") is True
    assert run_lock._create_checked(path, b"second") is False
    assert (tmp_path / LOCK).read_bytes() == b"first"


def test_a_finished_claim_leaves_nothing_and_a_failed_one_marks_out(tmp_path):
    with claim(str(tmp_path)):
        assert status_line(str(tmp_path)).endswith("its report comes when it finishes")
    assert status_line(str(tmp_path)) is None and list(tmp_path.iterdir()) == []
    with pytest.raises(ZeroDivisionError), claim(str(tmp_path)):
        1 / 0
    assert not (tmp_path / LOCK).exists()
    assert "ended before it finished (failed with ZeroDivisionError)" in status_line(str(tmp_path))


def test_a_holder_is_dead_only_when_this_host_can_tell(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    me = run_lock._this_run()
    assert Holder("x", me.host, int(dead.stdout), me.started, process_start="1").is_dead()
    assert Holder("x", me.host, int(dead.stdout), me.started).is_dead()   # no /proc: the pid alone
    assert not me.is_dead()
    assert Holder("x", me.host, me.pid, me.started, process_start="1").is_dead()   # its pid reused by another
    assert not Holder("x", "another-host", int(dead.stdout), me.started).is_dead()   # cannot tell: alive
    assert not Holder("x", me.host, int(dead.stdout), me.started, state="detached").is_dead()


def test_force_takes_over_a_claim(tmp_path):
    (tmp_path / LOCK).write_text(json.dumps({"run_id": "old", "host": "elsewhere", "pid": 1, "started": "then"}))
    with pytest.raises(OutputBusy, match=r"in use by the run started then on host elsewhere \(pid 1\)"):
        claim(str(tmp_path))
    taken = claim(str(tmp_path), force=True)
    assert json.loads((tmp_path / LOCK).read_text())["run_id"] == taken.holder.run_id


def test_signals_stop_the_run_and_an_ignored_one_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with run_lock.stop_on_signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN   # nohup: the user wants it to survive
            with pytest.raises(run_lock.StopSignal) as stopped:
                os.kill(os.getpid(), signal.SIGTERM)
            assert stopped.value.signum == signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_stop_signal_survives_beams_step_annotation():
    # Beam re-raises an exception leaving a DoFn as type(exn)(args[0] + " [while running 'Step']").
    exn = run_lock.StopSignal("SIGTERM")
    again = type(exn)(exn.args[0] + " [while running 'ReadInputs/ReadFiles']")
    assert isinstance(again, KeyboardInterrupt) and again.signum == signal.SIGTERM

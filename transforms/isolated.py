"""Run a function in a child process with a time limit and a memory limit.

Text extraction on hostile HTML can hang (catastrophic regex backtracking, giant DOM trees) or
exhaust memory, and Python cannot interrupt a running C extension from another thread. A child
process can be killed. The parent sends one call at a time over the child's stdin; when the
answer does not come within the time limit, the child is killed and restarted and the call
reports a timeout. The child caps its own address space (RLIMIT_AS), so a memory blow-up is a
MemoryError there, not the worker's death.

The child is a plain `python -m tokenmill.transforms.isolated` subprocess rather than a
multiprocessing "spawn" child: spawn re-imports the parent's __main__ module, which under a
Beam worker or a user's script without a main guard is not safe. Cost: one pickle round trip
per call, small next to the milliseconds an extraction takes (bench/bench_extract.py).
"""

from __future__ import annotations

import importlib
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, BinaryIO

_HEADER = struct.Struct("<Q")


class CallTimeout(Exception):
    """The call did not finish within the time limit; the child was killed."""


class ChildCrashed(Exception):
    """The child process died during the call (segfault, out of memory, killed)."""


class ChildError(Exception):
    """The function raised in the child; the message names the exception type."""


@dataclass(frozen=True)
class Limits:
    seconds: float
    memory_mb: int = 0
    """Address-space cap for the child in MiB; 0 = none."""


def _send(stream: BinaryIO, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: BinaryIO) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("stream closed")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("stream closed mid-message")
    return pickle.loads(data)


def _serve(target: str, memory_mb: int) -> None:
    """Child main loop: receive arguments, call the target, send ('ok', value) or ('error', text)."""
    if memory_mb:
        limit = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    module, _, name = target.partition(":")
    fn = getattr(importlib.import_module(module), name)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr   # a print() in the target must not corrupt the reply stream
    while True:
        try:
            args = _receive(requests)
        except EOFError:
            return
        try:
            reply = ("ok", fn(*args))
        except MemoryError:
            reply = ("error", "MemoryError: memory limit reached")
        except Exception as err:  # sent to the parent as text (exceptions need not pickle)
            reply = ("error", f"{type(err).__name__}: {err}")
        # The child's CPU seconds since it started (its imports included), for the stage's cost.
        _send(replies, (*reply, time.process_time()))


class IsolatedFunction:
    """Calls `module:function` in a child process.

    `__call__` returns the function's value or raises CallTimeout, ChildCrashed or ChildError.
    """

    def __init__(self, target: str, limits: Limits):
        self._target, self._limits = target, limits
        self._process: subprocess.Popen | None = None
        self.cpu_seconds = 0.0
        """CPU seconds the children spent up to their last answer, startup included (a killed
        child's time after its last answer is lost with it)."""
        self._child_cpu = 0.0   # the current child's CPU seconds at its last answer

    def __call__(self, *args: Any) -> Any:
        if self._process is None or self._process.poll() is not None:
            self._start()
        process = self._process
        try:
            _send(process.stdin, args)
            ready, _, _ = select.select([process.stdout], [], [], self._limits.seconds)
            if not ready:
                self.close()
                raise CallTimeout(f"no answer within {self._limits.seconds:g} s")
            status, value, child_cpu = _receive(process.stdout)
        except (EOFError, BrokenPipeError, ConnectionResetError) as err:
            code = process.poll()
            self.close()
            raise ChildCrashed(f"child process died (exit code {code}): {err}") from None
        self.cpu_seconds += child_cpu - self._child_cpu
        self._child_cpu = child_cpu
        if status == "error":
            raise ChildError(value)
        return value

    def _start(self) -> None:
        self._child_cpu = 0.0
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tokenmill.transforms.isolated", self._target, str(self._limits.memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            for stream in (self._process.stdin, self._process.stdout):
                stream.close()
        self._process = None


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))

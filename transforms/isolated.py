"""Run a function in a child process with a time limit and a memory limit.

Text extraction on hostile HTML can hang (catastrophic regex backtracking, giant DOM trees) or
exhaust memory, and Python cannot interrupt a running C extension from another thread. A child
process can be killed. The parent sends one call at a time over a pipe; when the answer does not
come within the time limit, the child is killed and restarted and the call reports a timeout. The
child caps its own address space (RLIMIT_AS), so a memory blow-up is a MemoryError there, not
the worker's death. Cost: one pickle round trip per call (about 0.1 ms), small next to the
several milliseconds an extraction takes.
"""

from __future__ import annotations

import importlib
import multiprocessing
import resource
from dataclasses import dataclass
from typing import Any


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


def _serve(conn, target: str, memory_mb: int) -> None:
    """Child main loop: receive arguments, call the target, send back ('ok', value) or ('error', exc)."""
    if memory_mb:
        limit = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    module, _, name = target.partition(":")
    fn = getattr(importlib.import_module(module), name)
    while True:
        try:
            args = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", fn(*args)))
        except MemoryError:
            conn.send(("error", "MemoryError: memory limit reached"))
        except Exception as err:  # sent to the parent as text (exceptions need not pickle)
            conn.send(("error", f"{type(err).__name__}: {err}"))


class IsolatedFunction:
    """Calls `module:function` in a child process.

    `__call__` returns the function's value or raises CallTimeout, ChildCrashed or ChildError.
    """

    def __init__(self, target: str, limits: Limits):
        self._target, self._limits = target, limits
        self._process = None
        self._conn = None

    def __call__(self, *args: Any) -> Any:
        if self._process is None or not self._process.is_alive():
            self._start()
        try:
            self._conn.send(args)
            ready = self._conn.poll(self._limits.seconds)
            if not ready:
                self.close()
                raise CallTimeout(f"no answer within {self._limits.seconds:g} s")
            status, value = self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError) as err:
            code = self._process.exitcode if self._process else None
            self.close()
            raise ChildCrashed(f"child process died (exit code {code}): {err!r}") from None
        if status == "error":
            raise ChildError(value)
        return value

    def _start(self) -> None:
        # spawn, not fork: the parent may be a multi-threaded Beam worker, where fork can deadlock.
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self._target, self._limits.memory_mb),
                                        daemon=True, name=f"tokenmill-{self._target}")
        self._process.start()
        child.close()
        self._conn = parent

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
        self._process = self._conn = None

"""Work around a data-losing race in the FnApiRunner of Beam 2.62-2.77 (what DirectRunner runs here).

The FnApiRunner's gRPC data plane (`worker_handlers.GrpcServer`) gives every stream it writes to a
worker a time-based flush: `DATA_BUFFER_TIME_LIMIT_MS = 1000` makes `data_plane` build a
`TimeBasedBufferingClosableOutputStream`, whose timer thread calls `flush()` once a second:
`callback(self.get())`, then `self._clear()`. `BundleManager._send_input_to_worker` meanwhile
writes a stage's input into that stream, chunk by chunk, on another thread and without the
flush lock. A chunk written between the timer's `get()` and its `_clear()` is erased unsent: the
worker never sees it, the job ends normally and the counts simply come up short.

It only bites when writing one stage input to one worker takes longer than the 1 s period:
inputs of a few hundred MB on a busy machine (tokenmill lost 10,000 to 38,000 of 200,000
documents in dedup's flatten inputs this way; 100,000 documents never did). in_memory mode uses
no gRPC and no timer; multi_threading mode has the timer on both sides. Beam's own job service
(`local_job_service_main`, PortableRunner) runs the same FnApiRunner code in its own process,
where this workaround cannot reach: there the report's output check is the safeguard.

The workaround turns the time-based flush off (0: size-based buffering only). Nothing depends on
it in batch: each input stream is closed, and so sent in full, right after it is written.
`bench/repro_fnapi_loss.py` shows the race on Beam's own classes and in a small pipeline.
"""

from __future__ import annotations

import logging

log = logging.getLogger("tokenmill")


def avoid_fn_api_runner_flush_race() -> None:
    """Disables the FnApiRunner's time-based data-plane flush in this process (idempotent).

    Must run before the runner starts its gRPC server (it reads the value then), so it is called
    while the pipeline is built.
    """
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    if getattr(worker_handlers, "DATA_BUFFER_TIME_LIMIT_MS", 0):
        log.debug("FnApiRunner: time-based data-plane flush off (it races with input writes and loses data)")
        worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 0

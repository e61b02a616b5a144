"""The FnApiRunner flush race (pipelines/runner_fixes.py): Beam loses a chunk, the workaround cannot.

The first test pins the mechanism on Beam's own runner-side stream: the interleaving a busy
machine produces by chance (the timer flushes, the runner thread writes the next chunk before
the timer clears the buffer) is forced with events, so the loss is certain, not probable.
"""

from __future__ import annotations

import threading
import time

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import worker_handlers
from apache_beam.runners.worker import data_plane

from tokenmill.pipelines.config import load_config
from tokenmill.pipelines.run import build_pipeline
from tokenmill.pipelines.runner_fixes import avoid_fn_api_runner_flush_race


def _runner_stream(limit_ms: int):
    """The stream FnApiRunner's `_send_input_to_worker` writes a stage input into."""
    conn = data_plane.BeamFnDataServicer(limit_ms).get_conn_by_worker_id("worker_1")
    return conn, conn.output_stream("bundle_1", "stage_input")


def _sent(conn) -> bytes:
    """Everything the stream put on the send queue toward the worker."""
    conn._to_send.put(conn._WRITES_FINISHED)      # what close() of the whole channel enqueues
    return b"".join(d.data for elements in conn._write_outputs() for d in elements.data)


def test_beam_erases_a_chunk_written_while_its_timer_flushes():
    conn, out = _runner_stream(1000)               # worker_handlers.DATA_BUFFER_TIME_LIMIT_MS (Beam 2.62-2.77)
    flushing, written = threading.Event(), threading.Event()
    send = out._flush_callback

    def timer_flush(data: bytes) -> None:          # the timer thread, between get() and _clear()
        send(data)
        flushing.set()
        written.wait(5)

    out._flush_callback = timer_flush
    out.write(b"a" * 1000)
    assert flushing.wait(5), "the 1 s flush timer did not fire"
    out.write(b"b" * 1000)                         # the runner thread writes the next chunk meanwhile
    written.set()
    out.close()                                    # waits for the timer's flush, which ends with _clear()
    assert _sent(conn) == b"a" * 1000              # the second chunk never reaches the worker


def test_with_the_workaround_the_runner_stream_has_no_timer_and_loses_nothing(monkeypatch):
    monkeypatch.setattr(worker_handlers, "DATA_BUFFER_TIME_LIMIT_MS", 1000)
    avoid_fn_api_runner_flush_race()
    assert worker_handlers.DATA_BUFFER_TIME_LIMIT_MS == 0
    conn, out = _runner_stream(worker_handlers.DATA_BUFFER_TIME_LIMIT_MS)
    assert not isinstance(out, data_plane.TimeBasedBufferingClosableOutputStream)
    chunks = [bytes([i]) * 100_000 for i in range(12)]
    for chunk in chunks:                           # writes spanning more than the old 1 s period
        out.write(chunk)
        time.sleep(0.1)
    out.close()
    assert _sent(conn) == b"".join(chunks)


def test_building_the_job_applies_the_workaround(monkeypatch, tmp_path):
    monkeypatch.setattr(worker_handlers, "DATA_BUFFER_TIME_LIMIT_MS", 1000)
    build_pipeline(beam.Pipeline(), [str(tmp_path / "*.jsonl")], str(tmp_path / "out"), load_config("tiny"))
    assert worker_handlers.DATA_BUFFER_TIME_LIMIT_MS == 0

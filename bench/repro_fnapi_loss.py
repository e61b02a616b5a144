"""Minimal repro: Beam 2.77's FnApiRunner silently drops stage input sent to its SDK workers.

    .venv/bin/python bench/repro_fnapi_loss.py stream     [--trials 5]
    .venv/bin/python bench/repro_fnapi_loss.py pipeline   [--mb 100] [--workers 1] [--slow-writes 0.15] [--fixed]
                                                          [--runner multi_processing|multi_threading|in_memory|portable]

The mechanism (apache_beam 2.77.0):
- `fn_api_runner/worker_handlers.py`: `DATA_BUFFER_TIME_LIMIT_MS = 1000`; `GrpcServer` builds its
  data servicer with it (`data_plane.BeamFnDataServicer(DATA_BUFFER_TIME_LIMIT_MS)`), so every
  stream the runner writes to a worker is a `data_plane.TimeBasedBufferingClosableOutputStream`.
- That stream's `PeriodicThread` calls `flush()` every second: `self._flush_callback(self.get())`
  then `self._clear()` (`SizeBasedBufferingClosableOutputStream.flush`), under `_flush_lock`.
- `fn_runner.BundleManager._send_input_to_worker` writes a fused stage's input (the chunks of a
  materialised PCollection, or a grouped GroupByKey partition) into that stream with
  `data_out.write(byte_stream)` on the runner's bundle thread, taking no lock, then `close()`s it.
- A chunk written after the timer's `get()` and before its `_clear()` is erased without being
  sent. The worker decodes what it received, reports success, and the elements are gone.
  It needs the writes to one worker to span a timer tick (1 s after the stream opened): large
  inputs, a busy CPU, or two bundle threads writing at once (ParallelBundleManager).

`stream` drives that exact runner-side object the way `_send_input_to_worker` does (chunks,
then close), with a short pause between chunks standing in for a busy runner, and counts the
bytes that reach the gRPC send queue: with the runner's 1000 ms some chunks vanish, with 0 none.
`pipeline` runs a real pipeline (two stages Flatten-ed into a counting stage, the shape that
lost dedup outcomes in tokenmill) on DirectRunner `multi_processing`; `--slow-writes S` only
delays each chunk the runner writes (no data changes) to make the timing of a loaded machine
reproducible; `--fixed` applies tokenmill's workaround (`pipelines/runner_fixes.py`).
`--runner portable` submits the same job to Beam's own job service (`LocalJobServicer`, what
`local_job_service_main` serves), started in this process so that `--slow-writes` reaches it,
with LOOPBACK workers: the job service runs the same FnApiRunner.

Measured here (2 shared cores): `stream` lost 2-4 of 40 MiB in every trial at 1000 ms, none at 0;
`pipeline --mb 100 --workers 1 --slow-writes 0.15` lost 10-21 % of the elements in 3 of 3 runs
(about 10 s each), none with `--fixed`.
"""

from __future__ import annotations

import argparse
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions


# ---------------------------------------------------------------- 1. the stream, alone

def stream_trial(limit_ms: int, chunks: int = 40, chunk_mb: float = 1.0, pause_s: float = 0.05) -> tuple[int, int]:
    """Writes `chunks` chunks into the runner's data stream as `_send_input_to_worker` does;
    returns (bytes written, bytes that reached the send queue)."""
    from apache_beam.runners.worker import data_plane

    servicer = data_plane.BeamFnDataServicer(limit_ms)          # as GrpcServer builds it
    conn = servicer.get_conn_by_worker_id("worker_1")
    out = conn.output_stream("bundle_1", "stage_input")
    size, written = int(chunk_mb * 2**20), 0
    for i in range(chunks):
        out.write(bytes([i % 251]) * size)
        written += size
        time.sleep(pause_s)
    out.close()
    conn._enqueue_to_send(conn._WRITES_FINISHED)                 # end the stream to drain it
    sent = sum(len(d.data) for elements in conn._write_outputs() for d in elements.data)
    return written, sent


def stream(trials: int) -> int:
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    runner_ms = worker_handlers.DATA_BUFFER_TIME_LIMIT_MS
    print(f"apache_beam {beam.__version__}; FnApiRunner DATA_BUFFER_TIME_LIMIT_MS = {runner_ms}")
    lost_any = 0
    for limit in (runner_ms, 0):
        for t in range(trials):
            written, sent = stream_trial(limit)
            lost_any += limit != 0 and sent < written
            print(f"  time limit {limit:4d} ms, trial {t + 1}: wrote {written / 2**20:5.1f} MiB, "
                  f"sent {sent / 2**20:5.1f} MiB, lost {(written - sent) / 2**20:5.1f} MiB")
    return 0 if lost_any else 1


# ---------------------------------------------------------------- 2. a real pipeline

def _make_docs(seed: int, n: int, size: int):
    for i in range(n):
        yield f"{seed}-{i:09d}-" + "x" * size


def _options(runner: str, workers: int) -> PipelineOptions:
    if runner == "portable":
        from apache_beam.runners.portability.local_job_service import LocalJobServicer

        port = LocalJobServicer().start_grpc_server(0)
        return PipelineOptions(["--runner=PortableRunner", f"--job_endpoint=localhost:{port}",
                                "--environment_type=LOOPBACK"])
    return PipelineOptions(["--runner=DirectRunner", f"--direct_running_mode={runner}",
                            f"--direct_num_workers={workers}"])


def pipeline(mb: int, workers: int, slow_writes: float, fixed: bool, runs: int, runner: str) -> int:
    from apache_beam.runners.portability.fn_api_runner import fn_runner, worker_handlers

    if fixed:
        from tokenmill.pipelines.runner_fixes import avoid_fn_api_runner_flush_race
        avoid_fn_api_runner_flush_race()
    if slow_writes:
        send = fn_runner.BundleManager._send_input_to_worker

        def slowly(self, process_bundle_id, read_transform_id, byte_streams):
            def paced():
                for chunk in byte_streams or []:
                    time.sleep(slow_writes)      # a busy runner thread; the bytes are unchanged
                    yield chunk
            return send(self, process_bundle_id, read_transform_id, paced())

        fn_runner.BundleManager._send_input_to_worker = slowly
    per_side = mb * 2**20 // 2 // 1024                            # 1 KiB elements, half from each side
    expected = 2 * per_side
    print(f"pipeline: 2 stages x {per_side:,} elements of 1 KiB -> Flatten -> count; {runner}, "
          f"{workers} workers; DATA_BUFFER_TIME_LIMIT_MS = "
          f"{worker_handlers.DATA_BUFFER_TIME_LIMIT_MS}; slow writes {slow_writes} s per chunk")
    lost_runs = 0
    for run in range(runs):
        options = _options(runner, workers)
        started = time.perf_counter()
        p = beam.Pipeline(options=options)
        a = p | "SeedA" >> beam.Create([0]) | "DocsA" >> beam.FlatMap(_make_docs, per_side, 1000)
        b = p | "SeedB" >> beam.Create([1]) | "DocsB" >> beam.FlatMap(_make_docs, per_side, 1000)
        counted = (a, b) | beam.Flatten() | "Count" >> beam.Map(_count)
        counted | "Done" >> beam.combiners.Count.Globally()
        result = p.run()
        result.wait_until_finish()
        seen = sum(c.committed for c in result.metrics().query(
            beam.metrics.MetricsFilter().with_name("seen"))["counters"])
        lost_runs += seen != expected
        print(f"  run {run + 1}: counted {seen:,} of {expected:,} elements "
              f"({expected - seen:,} lost) in {time.perf_counter() - started:.0f} s")
    return 1 if lost_runs and fixed else 0


def _count(element):
    beam.metrics.Metrics.counter("repro", "seen").inc()
    return len(element)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["stream", "pipeline"])
    parser.add_argument("--trials", type=int, default=5, help="stream: trials per time limit")
    parser.add_argument("--mb", type=int, default=100, help="pipeline: MiB through the Flatten")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runner", default="multi_processing",
                        choices=["multi_processing", "multi_threading", "in_memory", "portable"])
    parser.add_argument("--slow-writes", type=float, default=0.15, help="pipeline: seconds before each chunk "
                        "the runner writes to a worker (0: stock timing, loses data only on a loaded machine)")
    parser.add_argument("--fixed", action="store_true", help="pipeline: apply tokenmill's workaround first")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    if args.mode == "stream":
        return stream(args.trials)
    return pipeline(args.mb, args.workers, args.slow_writes, args.fixed, args.runs, args.runner)


if __name__ == "__main__":
    sys.exit(main())

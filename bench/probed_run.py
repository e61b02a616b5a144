"""`tokenmill ...` with two probes, for benchmarks: shuffle bytes per GroupByKey and memory per fused stage.

    python bench/probed_run.py PROBE.json run --input ... --output ... [Beam options]

Shuffle bytes: every GroupByKey the job applies (CoGroupByKey, Reshuffle and the file writers'
finalisation expand into GroupByKeys too) gets a ParDo just before it that adds the encoded size
of each element entering it to a Beam counter (`shuffle_bytes`, named by the GroupByKey's full
label). The size is what Beam's default coder (`FastPrimitivesCoder`, which pickles what it has
no coder for, e.g. a Document) makes of the (key, value) pair: what crosses the shuffle on any
runner. GroupByKeys inside a CombinePerKey are left alone, because runners lift combiners and
ship per-bundle partial results there, not the elements (inserting a step would stop the
lifting); they are listed as `combine` with no byte count.

Memory: bench/stage_memory.py's StageMemoryProbe (the largest SDK worker RSS per fused stage),
plus the launcher's own RSS per stage: the FnApiRunner keeps every PCollection that crosses a
fusion break in the launcher, so that is where shuffled data waits.

The probe file gets the counters and the per-stage peaks when the command ends.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

sys.path.insert(0, str(Path(__file__).parent))
from stage_memory import StageMemoryProbe, step_names  # noqa: E402

NAMESPACE = "shuffle_bytes"


class _MeasureShuffle(beam.DoFn):
    """Passes elements through, counting their encoded bytes and number."""

    def __init__(self, name: str):
        self._name = name

    def setup(self) -> None:
        import uuid

        from apache_beam.coders import FastPrimitivesCoder   # this class is pickled by value from __main__
        self._coder = FastPrimitivesCoder()
        # A counter of its own per instance, summed by the probe: a step after a Flatten (the
        # inputs of a CoGroupByKey) is copied into each input's fused stage, and Flink keeps one
        # copy's value of a counter that several stages report under one name.
        self._counter = f"{self._name}#{uuid.uuid4().hex[:12]}"

    def start_bundle(self) -> None:
        self._bytes = self._count = 0

    def process(self, element):
        self._bytes += len(self._coder.encode(element))
        self._count += 1
        yield element

    def finish_bundle(self) -> None:
        from apache_beam.metrics import Metrics
        Metrics.counter("shuffle_bytes", self._counter).inc(self._bytes)
        Metrics.counter("shuffle_bytes.elements", self._counter).inc(self._count)


class _Probe:
    def __init__(self, path: Path):
        self.path, self.combines, self.shuffle = path, [], {}
        self.memory = StageMemoryProbe()
        self.launcher_peaks: dict[str, float] = {}
        self._stop = False
        self._thread = threading.Thread(target=self._sample_launcher, daemon=True)
        self._thread.start()

    def _sample_launcher(self) -> None:
        while not self._stop:
            rss = StageMemoryProbe._rss_mb(str(os.getpid()))
            stage = self.memory.current
            self.launcher_peaks[stage] = max(self.launcher_peaks.get(stage, 0.0), rss)
            time.sleep(0.05)

    def install(self) -> None:
        original_apply, original_run, probe = beam.Pipeline.apply, beam.Pipeline.run, self

        def apply(pipeline, transform, pvalueish=None, label=None):
            if type(transform) is beam.GroupByKey and not getattr(transform, "_probed", False):
                parent = pipeline._current_transform()
                name = f"{parent.full_label}/{label or transform.label}".strip("/")
                if isinstance(parent.transform, beam.CombinePerKey):
                    probe.combines.append(name)
                else:
                    transform._probed = True
                    pvalueish = original_apply(pipeline, beam.ParDo(_MeasureShuffle(name)), pvalueish,
                                               label=f"MeasureShuffle{label or transform.label}")
            return original_apply(pipeline, transform, pvalueish, label)

        def run(pipeline, *args, **kwargs):
            result = original_run(pipeline, *args, **kwargs)
            result.wait_until_finish()
            counters = result.metrics().query(MetricsFilter())["counters"]
            for c in counters:
                if c.key.metric.namespace in (NAMESPACE, NAMESPACE + ".elements"):
                    name = c.key.metric.name.rsplit("#", 1)[0]   # one counter per DoFn instance
                    entry = probe.shuffle.setdefault(name, {"bytes": 0, "elements": 0})
                    # the PortableRunner (Flink) may report a counter as attempted only
                    value = c.committed or c.attempted or 0
                    entry["bytes" if c.key.metric.namespace == NAMESPACE else "elements"] += value
            return result

        beam.Pipeline.apply, beam.Pipeline.run = apply, run

    def write(self) -> None:
        self._stop = True
        worker_peaks = self.memory.stop()
        stages = sorted(set(worker_peaks) | set(self.launcher_peaks))
        memory = [{"stage": step_names(s), "launcher_mb": self.launcher_peaks.get(s, 0.0),
                   "largest_worker_mb": worker_peaks.get(s, 0.0)} for s in stages]
        self.path.write_text(json.dumps({"shuffle": self.shuffle, "lifted_combines": self.combines,
                                         "memory": memory}, indent=1))


def main(argv: list[str]) -> int:
    probe = _Probe(Path(argv[0]))
    probe.install()
    from tokenmill.pipelines.cli import main as cli_main
    try:
        return cli_main(argv[1:])
    finally:
        probe.write()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

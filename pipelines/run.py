"""The `tokenmill run` job: the pipeline recipe, and running it to a report.

The chain reads like the recipe: read the dumps, classify records, extract text, then the
filter stages in the configured order, then write the kept documents and tokenize them
(tokenizer, token shards, manifest). Each stage's drops, errors and stats go to
the ledger, which writes them beside the kept documents; the report is built from those files
after the job, so it is the same on every runner.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from tokenmill.pipelines.config import RunConfig, resolved_yaml
from tokenmill.pipelines.run_costs import clock_stages, launcher_costs, total_cpu
from tokenmill.pipelines.runner_fixes import avoid_fn_api_runner_flush_race
from tokenmill.pipelines.stages import STAGES
from tokenmill.transforms.beam.ledger import Ledger
from tokenmill.transforms.beam.read import ReadInputs
from tokenmill.transforms.beam.stage import ApplyFilter
from tokenmill.transforms.beam.staging import STAGING
from tokenmill.transforms.beam.tokenize import TokenizeDocs
from tokenmill.transforms.beam.worker_startup import LAUNCHER_PID
from tokenmill.transforms.beam.write import WriteDocs
from tokenmill.transforms.extract import ExtractStep
from tokenmill.transforms.pii import make_scrubber
from tokenmill.transforms.readers import record_check
from tokenmill.transforms.steps import check_step

log = logging.getLogger("tokenmill")

OUTPUT_PARTS = ("docs", "stats", "errors", "rejected", "report", "tokens", "tokenizer", STAGING)


def scrubber_factory(cfg: RunConfig):
    """What the ledger builds once per worker to scrub text leaving the pipeline outside docs/:
    the PII stage's own detection and operators (identity when `pii.enabled` is false)."""
    return functools.partial(make_scrubber, cfg.pii)


def build_pipeline(pipeline: beam.Pipeline, inputs: list[str], out_dir: str, cfg: RunConfig) -> list[str]:
    """Adds the whole job to `pipeline`; returns the stage names in order (for the report)."""
    avoid_fn_api_runner_flush_race()   # before the runner starts: DirectRunner otherwise loses data
    if cfg.pii.enabled and "pii" not in cfg.filters.order:
        log.warning("pii is enabled but not in filters.order: kept documents are written unscrubbed "
                    "(rejects, report samples and errors are still scrubbed)")
    ledger = Ledger(out_dir, scrubber_factory(cfg), cfg.output.samples_per_reason, cfg.output.keep_rejected)
    records = pipeline | "ReadInputs" >> ReadInputs(inputs, cfg.input, ledger)
    page_check = functools.partial(record_check, extract_enabled=cfg.extract.enabled)
    docs = records | "ClassifyRecords" >> ApplyFilter("read", check_step(page_check, cfg.input), ledger)
    if cfg.extract.enabled:   # a disabled stage has no step, so no row in the report
        docs = docs | "ExtractText" >> ApplyFilter("extract", functools.partial(ExtractStep, cfg.extract), ledger,
                                                   histograms=(("chars", "chars"),))
    for name in cfg.filters.order:
        spec = STAGES[name]
        if spec.enabled(cfg):
            docs = docs | spec.label >> spec.build(cfg, ledger)
    docs = ledger.count_output(docs)
    written = docs | "WriteDocs" >> WriteDocs(out_dir, cfg.output.docs_shards)
    if cfg.tokenize.enabled:   # encodes the written docs/ files: documents never wait for the tokenizer
        docs | "Tokenize" >> TokenizeDocs(out_dir, cfg.tokenize, ledger, written=written)
    ledger.write(pipeline)
    return ledger.stages


@dataclass(frozen=True)
class RunResult:
    stages: list[str]
    seconds: float
    runner: str
    started: str
    finished: str
    cpu_seconds: float | None = None
    """CPU seconds (user + system) of this process and its reaped child processes from the
    launcher's start to the job's end; None when the job ran elsewhere (a cluster, detached) and
    this process saw none of it."""
    launcher_costs: dict[str, float] | None = None
    """The part of cpu_seconds spent outside the steps, by phase (run_costs.LauncherCosts):
    `startup`, and with the local FnApiRunner `planning` (and `runner` in multi_processing)."""
    cost_counters: dict[str, float] | None = None
    """CPU seconds of the work outside the stages (`ledger`, `write_docs`) from the runner's
    metrics (ledger.charge); None when the runner returned no metrics."""


def cost_counters(result) -> dict[str, float] | None:
    """The `tokenmill.cost` counters of a finished job, in CPU seconds; None without metrics."""
    from apache_beam.metrics.metric import MetricsFilter

    from tokenmill.transforms.beam.worker_startup import COST_NAMESPACE
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(COST_NAMESPACE))["counters"]
    except Exception as err:  # a runner without metrics support: the report says so
        log.info("no cost counters from the runner: %s", err)
        return None
    totals: dict[str, float] = {}
    for c in counters:
        name = c.key.metric.name.removesuffix("_cpu_us")
        totals[name] = totals.get(name, 0.0) + (c.committed or c.attempted or 0) / 1e6
    return totals


LOCAL_RUNNERS = {"directrunner", "fnapirunner", "switchingdirectrunner", "bundlebasedirectrunner"}


def runs_locally(options: PipelineOptions) -> bool:
    """Whether the job's workers are this process or its children (the DirectRunner's modes), so
    that this process's CPU time is the job's."""
    runner = (options.get_all_options().get("runner") or "DirectRunner").rsplit(".", 1)[-1].lower()
    return runner in LOCAL_RUNNERS


def clear_outputs(out_dir: str) -> None:
    """Removes what an earlier run left in OUT, so stale shards never mix with new ones."""
    for part in OUTPUT_PARTS:
        path = FileSystems.join(out_dir, part)
        if FileSystems.exists(path):
            FileSystems.delete([path])


def remove_staging(out_dir: str) -> None:
    """Removes OUT/staging once the job is done: the dedup stages delete their staged files
    themselves (transforms/beam/staging.py); the emptied folder is left to the launcher."""
    path = FileSystems.join(out_dir, STAGING)
    if FileSystems.exists(path):
        FileSystems.delete([path])


def absolute_path(path: str) -> str:
    """A local path made absolute against the launcher's directory; URLs (gs://, s3://) unchanged.

    Workers of a portable runner (an EXTERNAL worker pool, a Flink task manager's SDK harness) run
    in their own working directory, where a relative glob matches nothing and a relative output
    directory is somewhere else: the job would succeed with no input and an empty report.
    """
    return path if FileSystems.get_scheme(path) else os.path.abspath(path)


def _wait_or_cancel(result, out_dir: str) -> None:
    """Waits for the job; Ctrl-C (or SIGTERM) on the launcher cancels a job that runs elsewhere.

    A cluster job outlives its launcher, and the launcher's claim on OUT ends with it
    (run_lock.py): a job left running would write into the next run's files.
    """
    try:
        result.wait_until_finish()
    except KeyboardInterrupt:
        try:
            result.cancel()
            log.warning("cancelled the job writing to %s", out_dir)
        except Exception as err:   # a runner without cancel, or a job service gone: say what that means
            log.warning("could not cancel the job (%s: %s): it may still be writing to %s", type(err).__name__,
                        err, out_dir)
        raise


def workers_in_subprocesses(options: PipelineOptions) -> bool:
    """The DirectRunner's multi_processing mode: its workers are child processes of this one."""
    return (options.get_all_options().get("direct_running_mode") or "") == "multi_processing"


def run_job(inputs: list[str], out_dir: str, cfg: RunConfig, options: PipelineOptions,
            wait: bool = True, cpu_started: float | None = None) -> RunResult:
    """Runs the job and writes config.resolved.yaml; the caller builds the report.

    With `wait=False` it returns once the runner has accepted the job (a Dataflow Flex Template
    launch must return within minutes); `finished` is then empty. `cpu_started`: total_cpu()
    when the launcher started (`tokenmill run` reads it first thing), so that its start-up counts.
    """
    cpu_started = total_cpu() if cpu_started is None else cpu_started
    inputs, out_dir = [absolute_path(p) for p in inputs], absolute_path(out_dir)
    clear_outputs(out_dir)
    if not FileSystems.exists(out_dir):
        FileSystems.mkdirs(out_dir)
    with FileSystems.create(FileSystems.join(out_dir, "config.resolved.yaml")) as f:
        f.write(resolved_yaml(cfg).encode("utf-8"))
    started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.monotonic()
    pipeline = beam.Pipeline(options=options)
    stages = build_pipeline(pipeline, inputs, out_dir, cfg)
    os.environ[LAUNCHER_PID] = str(os.getpid())   # worker processes inherit it: they charge their start-up, this one not
    before_run = total_cpu()
    with clock_stages() as clock:
        result = pipeline.run()
        if wait:
            _wait_or_cancel(result, out_dir)
            remove_staging(out_dir)
    costs = launcher_costs(cpu_started, before_run, total_cpu(), clock, workers_in_subprocesses(options)) \
        if wait and runs_locally(options) else None
    runner = options.get_all_options().get("runner") or "DirectRunner"
    finished = time.strftime("%Y-%m-%dT%H:%M:%S%z") if wait else ""
    return RunResult(stages, time.monotonic() - t0, runner, started, finished,
                     costs.total if costs else None, costs.as_dict() if costs else None,
                     cost_counters(result) if wait else None)

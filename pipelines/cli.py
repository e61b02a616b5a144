"""The `tokenmill` command: run, train, sample, report, inspect, config.

A mistake on the command line (a bad flag, a missing input, an unknown config key) prints one
line on stderr and exits with status 2, never a traceback. Flags that tokenmill does not define
are Beam pipeline options (`--runner`, `--direct_num_workers`, `--job_endpoint`, ...) and are
checked against every options class Beam knows, so a typo is caught before a job is submitted.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

USAGE_ERROR = 2

# Runners that finish "successfully" with wrong output. Beam's DaskRunner (measured on 2.77) computes only the
# last leaf of the graph and drops what DoFns emit in finish_bundle (measured, DESIGN.md).
PORTABLE_RUNNERS = ("portablerunner", "flinkrunner", "sparkrunner")
ENVIRONMENT_CACHE_MS = 300_000    # SDK workers stay between the stages of one job for 5 minutes idle

DATA_LOSING_RUNNERS = {
    "daskrunner": "Beam's DaskRunner loses data (it drops outputs emitted in finish_bundle, "
                  "so Parquet writes and stats lose rows); use DirectRunner, PortableRunner or DataflowRunner",
}


RUN_HELP = """\
Read WARC/WET/JSONL/Parquet dumps, extract the text, filter, deduplicate, scrub personal
data and tokenize; write docs/, tokens/, errors/, stats/ and report/ under --output.

Any flag not listed below is a Beam pipeline option and goes to the runner, e.g.
  --runner=DirectRunner --direct_running_mode=multi_processing --direct_num_workers=2
  --runner=PortableRunner --job_endpoint=localhost:8099 --environment_type=LOOPBACK
  --runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp --setup_file=./setup.py"""

RUN_EXAMPLES = """\
examples:
  tokenmill run --input 'samples/*.warc.gz' --output out/sample
  tokenmill run --input crawl-data/CC-MAIN-2024-22/warc.paths.gz --set input.limit=10 --output out/cc
  tokenmill run --input docs.jsonl.zst --output out/j --config tiny --set language.languages=[en]"""


class UsageError(Exception):
    """A mistake in how tokenmill was called; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + message; we want one clear line
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _run_parser(sub) -> None:
    p = sub.add_parser("run", help="run the pipeline on web dumps",
                       formatter_class=argparse.RawDescriptionHelpFormatter, description=RUN_HELP,
                       epilog=RUN_EXAMPLES)
    p.add_argument("--input", nargs="+", required=True, metavar="PATH_OR_GLOB",
                   help="data files, globs or Common Crawl listings (warc.paths.gz); local, gs:// or s3://")
    p.add_argument("--output", required=True, metavar="DIR",
                   help="output directory (created; earlier results replaced); one run at a time holds it")
    p.add_argument("--force", action="store_true",
                   help="take --output over from a run that still holds it: only once that run is known dead "
                        "(two runs writing one directory destroy each other's files)")
    p.add_argument("--detach", action="store_true",
                   help="return once the runner has accepted the job (Dataflow Flex Templates, long cluster jobs); "
                        "when it has finished, 'tokenmill report --build DIR' writes the report")
    _config_args(p)


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="default", metavar="NAME_OR_FILE",
                   help="a bundled preset (default, tiny) or a YAML file; see 'tokenmill config'")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override one config key, e.g. --set language.min_score=0.65 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tokenmill", description="From raw web dumps to LLM training data.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _run_parser(sub)
    report = sub.add_parser("report", help="print a run's summary, or compare two runs", description=(
        "Print a run's summary from OUT/report/report.json; --compare A B shows what changed between "
        "two runs; --train-log attaches a training run's loss curve to the report."))
    report.add_argument("dirs", nargs="+", metavar="DIR", help="a run's output directory (two with --compare)")
    report.add_argument("--compare", action="store_true", help="show what changed between two runs")
    report.add_argument("--build", action="store_true",
                        help="write the report of a run started with --detach, once its job has finished")
    report.add_argument("--html", action="store_true", help="print the path of the HTML report")
    report.add_argument("--open", action="store_true", help="open the HTML report in a browser")
    report.add_argument("--train-log", metavar="PATH", help=(
        "attach a training run that used this run's tokens: its train_log.jsonl (or its output "
        "directory); the loss curve is added to report.json and index.html"))
    from tokenmill.pipelines.inspect_run import add_inspect_parser
    add_inspect_parser(sub)
    config = sub.add_parser("config", help="print the resolved config with every key's meaning")
    _config_args(config)
    sub.add_parser("train", help="train the GPT on token shards (tokenmill train --help)", add_help=False)
    sub.add_parser("sample", help="generate text from a checkpoint (tokenmill sample --help)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    from tokenmill.pipelines.run_costs import total_cpu
    # The run's start-up cost counts from the process's start (getrusage counts from there: 0) when
    # this is the command line; from here when called in a process that did other work before.
    cpu_started = 0.0 if argv is None else total_cpu()
    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_logging()
    try:
        if argv and argv[0] in ("train", "sample"):
            return _delegate(argv[0], argv[1:])
        args, rest = build_parser().parse_known_args(argv)
        if args.command != "run" and rest:
            raise UsageError(f"unrecognized arguments: {' '.join(rest)}")
        if args.command == "run":
            return _cmd_run(args, rest, cpu_started)
        if args.command == "report":
            from tokenmill.pipelines.report_cli import report_command
            return report_command(args)
        if args.command == "inspect":
            from tokenmill.pipelines.inspect_run import inspect_command
            return inspect_command(args)
        return _cmd_config(args)
    except UsageError as err:
        print(f"tokenmill: error: {err}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt as err:   # Ctrl-C, or SIGTERM/SIGHUP during a run (run_lock.StopSignal)
        signum = getattr(err, "signum", signal.SIGINT)
        how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        print(f"tokenmill: {how}", file=sys.stderr)
        return 128 + signum


def _delegate(command: str, argv: list[str]) -> int:
    from tokenmill.transforms.typed_config import ConfigError
    try:
        if command == "train":
            from tokenmill.model.train import main as train_main
        else:
            from tokenmill.model.sample import main as train_main
    except ImportError as err:
        raise UsageError(f"'tokenmill {command}' needs torch: pip install 'tokenmill[train]' ({err})") from None
    try:
        return train_main(argv) or 0
    except ConfigError as err:
        raise UsageError(str(err)) from None


def beam_options(args: list[str]):
    """PipelineOptions from the flags tokenmill does not define; unknown flags are a UsageError."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    # The same parser Beam builds in PipelineOptions.get_all_options, which only warns about
    # unknown flags and drops them; here a typo must stop the run.
    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    known, unknown = parser.parse_known_args(args)
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)} (neither a tokenmill flag nor a Beam "
                         "pipeline option; see 'tokenmill run --help')")
    _check_runner(known)
    # Workers log every harness detail at INFO; keep their warnings and tokenmill's progress lines.
    # "WARN", not "WARNING": Java job servers (Flink, Spark) parse the options into their LogLevel
    # enum (DEBUG, TRACE, INFO, WARN, ERROR, OFF) and reject the job otherwise; Python reads both.
    if known.default_sdk_harness_log_level is None:
        args = [*args, "--default_sdk_harness_log_level=WARN"]
    if not known.sdk_harness_log_level_overrides:
        args = [*args, '--sdk_harness_log_level_overrides={"tokenmill": "INFO"}']
    # Job servers (Flink, Spark) drop a stage's SDK environment when the stage ends unless told to
    # keep it: Spark then starts a fresh Python worker, which imports tokenmill and loads its
    # models, for every task (69 worker starts for the 100 sample records, 5:03 against 2:11).
    runner = (known.runner or "").rsplit(".", 1)[-1].lower()
    if runner in PORTABLE_RUNNERS and not known.environment_cache_millis:
        args = [*args, f"--environment_cache_millis={ENVIRONMENT_CACHE_MS}"]
    return PipelineOptions(args)


def _check_runner(known) -> None:
    """The runner exists and is not known to lose data; DirectRunner worker counts are not negative."""
    from apache_beam.runners.runner import create_runner

    runner = (getattr(known, "runner", None) or "").rsplit(".", 1)[-1].lower()
    if runner in DATA_LOSING_RUNNERS:
        raise UsageError(f"refusing --runner={known.runner}: {DATA_LOSING_RUNNERS[runner]}")
    if known.runner:
        try:   # what beam.Pipeline does with the name, here before OUT is touched
            create_runner(known.runner)
        except (ValueError, ImportError) as err:
            raise UsageError(f"--runner={known.runner}: {str(err).splitlines()[0]}") from None
    if (known.direct_num_workers or 0) < 0:
        raise UsageError(f"--direct_num_workers={known.direct_num_workers}: must be >= 0 (0: one per CPU core)")


def _load_config(args):
    from tokenmill.pipelines.config import load_config
    from tokenmill.transforms.typed_config import ConfigError
    try:
        return load_config(args.config, args.overrides)
    except ConfigError as err:
        raise UsageError(str(err)) from None


def _cmd_config(args) -> int:
    from tokenmill.pipelines.config import resolved_yaml
    print(resolved_yaml(_load_config(args)), end="")
    return 0


def _cmd_run(args, beam_args: list[str], cpu_started: float | None = None) -> int:
    cfg = _load_config(args)
    options = beam_options(beam_args)
    if args.detach and (options.get_all_options().get("environment_type") or "").upper() == "LOOPBACK":
        raise UsageError("--detach with --environment_type=LOOPBACK: the workers run inside this process, "
                         "so the job would die when it returns")
    from tokenmill.pipelines.cli_checks import check_inputs, check_output
    from tokenmill.pipelines.run_lock import stop_on_signals
    check_output(args.output)
    check_inputs(args.input, cfg.input, args.output)
    with stop_on_signals(), _claim(args, options) as claim:   # nothing in OUT is touched before the claim
        return _run_claimed(args, cfg, options, claim, cpu_started)


def _claim(args, options):
    from tokenmill.pipelines.run_lock import OutputBusy, claim
    try:
        return claim(args.output, options, force=args.force)
    except OutputBusy as err:
        raise UsageError(str(err)) from None
    except Exception as err:   # a store that refuses the write: permissions, credentials, a missing bucket
        raise UsageError(f"--output {args.output}: cannot claim it ({type(err).__name__}: {err})") from None


def _run_claimed(args, cfg, options, claim, cpu_started: float | None = None) -> int:
    from tokenmill.pipelines.report import write_pending
    from tokenmill.pipelines.report_cli import finish_report
    from tokenmill.pipelines.run import run_job
    from tokenmill.transforms.typed_config import ConfigError

    print(f"tokenmill: running on {', '.join(args.input)} -> {args.output}", file=sys.stderr)
    try:
        result = run_job(args.input, args.output, cfg, options, wait=not args.detach, cpu_started=cpu_started)
    except ConfigError as err:   # found while running, e.g. a vocabulary the data cannot support
        raise UsageError(str(err)) from None
    finally:   # Beam's warnings that the console does not show, and everything else, in OUT/logs/run.log
        _RUN_LOG.write(args.output)
    run = _run_facts(args, result)
    if args.detach:
        write_pending(args.output, result.stages, run, args.input)
        claim.detach()
        print(f"tokenmill: job submitted to {result.runner}; when it has finished, write its report with: "
              f"tokenmill report --build {args.output}", file=sys.stderr)
        return 0
    return finish_report(args.output, result.stages, run, args.input)


def _run_facts(args, result) -> dict:
    from tokenmill.pipelines.config import versions
    return {
        "started": result.started, "finished": result.finished,
        "seconds": None if args.detach else round(result.seconds, 2),
        "cpu_seconds": None if result.cpu_seconds is None else round(result.cpu_seconds, 2),
        "launcher_costs": result.launcher_costs, "cost_counters": result.cost_counters,
        "runner": result.runner, "config": args.config, "overrides": args.overrides,
        "config_sha256": _sha256_of(args.output, "config.resolved.yaml"), "version": _version(),
        "versions": versions(),
    }


def _sha256_of(out_dir: str, name: str) -> str:
    import hashlib
    from apache_beam.io.filesystems import FileSystems
    with FileSystems.open(FileSystems.join(out_dir, name)) as f:
        return hashlib.sha256(f.read()).hexdigest()


def _version() -> str:
    import importlib.metadata
    return importlib.metadata.version("tokenmill")


_RUN_LOG = None


def _quiet_logging() -> None:
    # Beam logs every worker start at INFO; keep tokenmill's own progress lines and warnings, and
    # keep Beam's irrelevant warnings off the console (pipelines/run_log.py).
    global _RUN_LOG
    from tokenmill.pipelines.run_log import install
    _RUN_LOG = install(logging.WARNING)


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy, so that classes such as UsageError have
    # one identity for the modules that import them.
    from tokenmill.pipelines.cli import main as imported_main
    sys.exit(imported_main())

"""The console and the run's log file: Beam's noise off the console, everything kept in OUT/logs/.

A tokenmill run prints its own progress lines and the warnings that matter to its user. Beam
also logs, on every run, warnings that say nothing to that user: the GCP client libraries
(apitools) are missing although no GCP service is used, the portable worker has no
semi_persistent_directory, PipelineOptions discards the flags of other options classes, and
the like. `BeamNoise` keeps those off the console; `RunLog` keeps every record that reached the
console's logger (filtered or not) and `write()` puts them in `OUT/logs/run.log` (through Beam's
FileSystems, so a gs:// or s3:// OUT works too). A record at ERROR or above is never filtered: a
real failure always reaches the console, even one whose message mentions a noisy subject.
"""

from __future__ import annotations

import logging

LOG_DIR, LOG_NAME = "logs", "run.log"
MAX_RECORDS = 100_000   # the file keeps the first ones; a run that logs more has a bug to look at
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Substrings of Beam warnings that are irrelevant to a tokenmill user. Seen here with Beam 2.62:
# the last two from every worker of `--direct_running_mode=multi_processing`, relayed by the
# runner's log service ("Worker: severity: WARN ... No semi_persistent_directory found").
NOISE = (
    "apitools",                          # "No module named 'apitools'" / "apitools not found": GCP extras absent
    "semi_persistent_directory",         # the portable worker's scratch directory is not set
    "Discarding unparseable args",       # PipelineOptions views that do not know another class's flags
    "Discarding invalid overrides",
)


def is_noise(record: logging.LogRecord) -> bool:
    # Beam logs an exception leaving a DoFn with its traceback before re-raising it; for Ctrl-C or
    # SIGTERM (a KeyboardInterrupt) the one line tokenmill prints says enough.
    if record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt):
        return True
    if record.levelno >= logging.ERROR:
        return False
    message = record.getMessage()
    if "severity: ERROR" in message or "severity: CRITICAL" in message:   # a worker's error, relayed at WARNING
        return False
    return any(part in message for part in NOISE)


class BeamNoise(logging.Filter):
    """Drops Beam's irrelevant warnings (see NOISE) from the handler it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not is_noise(record)


class RunLog(logging.Handler):
    """Keeps the formatted records of one run in memory until `write(out_dir)`."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(FORMAT))
        self.lines: list[str] = []
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) >= MAX_RECORDS:
            self.dropped += 1
            return
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted must not break the run
            self.handleError(record)

    def write(self, out_dir: str) -> str | None:
        """Writes OUT/logs/run.log; returns its path, or None when OUT cannot be written."""
        from apache_beam.io.filesystems import FileSystems   # not at import: `tokenmill --help` stays fast
        path = FileSystems.join(out_dir, LOG_DIR, LOG_NAME)
        text = "\n".join(self.lines) + "\n"
        if self.dropped:
            text += f"... {self.dropped} more records not kept\n"
        try:
            with FileSystems.create(path) as f:
                f.write(text.encode("utf-8"))
        except Exception as err:  # OUT unwritable: the run's own error says more; keep the console clean
            logging.getLogger("tokenmill").warning("could not write %s: %s", path, err)
            return None
        return path


def install(console_level: int = logging.WARNING) -> RunLog:
    """Sets up the console (Beam's noise filtered) and returns the handler that keeps the run's log."""
    logging.basicConfig(level=console_level, format="%(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for handler in root.handlers:
        if not isinstance(handler, RunLog):
            handler.addFilter(BeamNoise())
    run_log = next((h for h in root.handlers if isinstance(h, RunLog)), None)
    if run_log is None:
        run_log = RunLog()
        root.addHandler(run_log)
    logging.getLogger("tokenmill").setLevel(logging.INFO)
    return run_log

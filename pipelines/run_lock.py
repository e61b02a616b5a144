"""One run per output directory: the claim a run holds on OUT, and the mark of an unfinished OUT.

Two runs on one OUT destroy each other's work: each starts by removing what an earlier run left
(`clear_outputs`), so the second deletes the first one's files mid-run and the reports describe
a mixture (issue 19). A run therefore claims OUT before it touches anything there, with two files
named like Hadoop's `_SUCCESS` (an underscore keeps them out of the globs Beam and Spark read):

- `OUT/_LOCK.json`, the claim: who holds OUT (host, pid, start time). It is created only if absent,
  so of two runs starting together exactly one gets it where the store can create atomically (see
  below). It is removed when the run ends in any way its launcher sees (success, failure, Ctrl-C,
  SIGTERM/SIGHUP). A launcher killed with SIGKILL, or a lost machine, leaves it behind: the next run
  is refused, and told when the holder is known dead (same host, its process gone), and `--force`
  takes OUT over. Nothing can tell a dead holder on another host from a live one, so a run never
  takes over by itself; two `--force` runs at the same moment are not guarded against.
- `OUT/_INCOMPLETE.json`, the dirty mark: written right after the claim, removed only once the run
  has written its report. Whatever stops a run (a killed launcher included) leaves it, so
  `tokenmill report` says in one line that OUT is incomplete; the next run on OUT clears it.

A run started with `--detach` cannot see its job end: its claim stays (marked detached) until
`tokenmill report --build OUT` has written the report; a job that failed or was cancelled needs
`--force` on the next run.

Where create-if-absent is atomic:
- local disks: the claim is written whole to a private file, then hard-linked to its name; link(2)
  fails if the name exists, atomically on local file systems and on NFS (the classic NFS-safe lock).
  Where hard links are refused (FAT, some FUSE mounts) `open(O_CREAT | O_EXCL)` does the same.
- gs://: an upload with `if_generation_match=0` (a GCS precondition: the write fails with 412 if
  the object exists), through google-cloud-storage as Beam's GCS file system uses it.
- s3://: a PutObject with `If-None-Match: *` (S3 conditional writes, Aug 2024; boto3 >= 1.35),
  through the boto3 client Beam's S3 options configure. S3-compatible stores that ignore the header
  fall back to last-writer-wins, which the read-back below catches unless both writes land first.
- anything else Beam can write (and gs:// or s3:// without their client library or its support for
  conditional writes): check-then-create through FileSystems, then read back the claim; a warning
  says it is not atomic, since two runs within the same moment can both pass the check.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import time
import uuid
from dataclasses import asdict, dataclass, replace

from apache_beam.io.filesystems import FileSystems

log = logging.getLogger("tokenmill")

LOCK = "_LOCK.json"
INCOMPLETE = "_INCOMPLETE.json"


class OutputBusy(Exception):
    """OUT is claimed by another run; the message is the one line the user sees."""


@dataclass(frozen=True)
class Holder:
    """The run that holds (or last held) OUT."""
    run_id: str
    host: str
    pid: int
    started: str
    process_start: str = ""
    """The holder's process start time (Linux /proc), so a reused pid is not taken for the holder."""
    state: str = "running"
    """`running`, `detached` (waits for `report --build`), or how the run stopped (in _INCOMPLETE.json)."""

    def who(self) -> str:
        return f"the run started {self.started} on host {self.host} (pid {self.pid})"

    def is_dead(self) -> bool:
        """True only when this host can prove the holder's launcher is gone."""
        if self.host != socket.gethostname() or self.state == "detached":
            return False
        if self.process_start:   # recorded where /proc exists: a reused pid has another start time
            return _process_start(self.pid) != self.process_start
        return not _pid_exists(self.pid)


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's live process
        return True
    return True


def _process_start(pid: int) -> str:
    """Field 22 of /proc/PID/stat (start time in clock ticks since boot); '' where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _this_run() -> Holder:
    return Holder(run_id=uuid.uuid4().hex, host=socket.gethostname(), pid=os.getpid(),
                  started=time.strftime("%Y-%m-%dT%H:%M:%S%z"), process_start=_process_start(os.getpid()))


def _encode(holder: Holder) -> bytes:
    return json.dumps(asdict(holder), indent=1).encode("utf-8")


def _read(path: str) -> Holder | None:
    try:
        with FileSystems.open(path) as f:
            data = json.loads(f.read().decode("utf-8"))
        return Holder(**{k: data[k] for k in Holder.__dataclass_fields__ if k in data})
    except (OSError, ValueError, TypeError):   # gone meanwhile, or not a claim this code wrote: no one to name
        return None


def _create_exclusive(path: str, data: bytes, options) -> bool:
    """Writes `path` only if it does not exist; False when it does. See the module docstring."""
    scheme = FileSystems.get_scheme(path)
    if scheme in (None, "file"):
        return _create_local(path, data)
    create = {"gs": _create_gcs, "s3": _create_s3}.get(scheme)
    created = create(path, data, options) if create else None
    return _create_checked(path, data) if created is None else created


def _create_local(path: str, data: bytes) -> bool:
    # Written whole to a private file, then hard-linked to its name: link(2) fails if the name exists
    # (the O_EXCL guarantee), and a reader never sees a claim half written.
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "xb") as f:
        f.write(data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:   # no hard links here (FAT, some FUSE mounts)
        return _create_excl(path, data)
    finally:
        os.unlink(tmp)
    return True


def _create_excl(path: str, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return True


def _split_url(path: str) -> tuple[str, str]:
    bucket, _, key = path.split("://", 1)[1].partition("/")
    return bucket, key


def _create_gcs(path: str, data: bytes, options) -> bool | None:
    try:
        from google.api_core.exceptions import PreconditionFailed
        from apache_beam.io.gcp.gcsio import create_storage_client
    except ImportError:
        return None
    from apache_beam.options.pipeline_options import PipelineOptions

    bucket, key = _split_url(path)
    blob = create_storage_client(options or PipelineOptions()).bucket(bucket).blob(key)
    try:
        blob.upload_from_string(data, if_generation_match=0)   # 0: only if no live object has this name
    except PreconditionFailed:
        return False
    return True


def _create_s3(path: str, data: bytes, options) -> bool | None:
    try:
        from botocore.exceptions import ClientError, ParamValidationError
        from apache_beam.io.aws.clients.s3.boto3_client import Client
    except ImportError:
        return None
    bucket, key = _split_url(path)
    try:
        Client(options or {}).client.put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
    except ParamValidationError:   # a boto3 older than conditional writes
        return None
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise
    return _read_back(path, data)


def _create_checked(path: str, data: bytes) -> bool:
    log.warning("the claim on %s is not atomic on this store: two runs started at the same moment could "
                "both proceed (see pipelines/run_lock.py)", path)
    if FileSystems.exists(path):
        return False
    with FileSystems.create(path) as f:
        f.write(data)
    return _read_back(path, data)


def _read_back(path: str, data: bytes) -> bool:
    # Where a store lets the last writer win, the loser sees the winner's claim here.
    with FileSystems.open(path) as f:
        return f.read() == data


def _write(path: str, data: bytes) -> None:
    with FileSystems.create(path) as f:
        f.write(data)


def _delete(path: str) -> None:
    if FileSystems.exists(path):
        FileSystems.delete([path])


def busy_line(out_dir: str, holder: Holder | None) -> str:
    """The one line a run refused on a claimed OUT prints."""
    if holder is None:
        return (f"--output {out_dir} is claimed ({LOCK}) by a run whose claim cannot be read; if no run uses it, "
                "rerun with --force")
    if holder.state == "detached":
        return (f"--output {out_dir}: a job submitted with --detach by {holder.who()} holds it; when that job has "
                f"finished: tokenmill report --build {out_dir} (if it failed or was cancelled, rerun with --force)")
    if holder.is_dead():
        return (f"--output {out_dir} is incomplete: {holder.who()} was killed before it finished; "
                "rerun with --force to replace it")
    return (f"--output {out_dir} is in use by {holder.who()}; wait for it to finish "
            "(if it is dead, rerun with --force)")


def _claimed_line(out_dir: str, holder: Holder | None) -> str:
    if holder is None:
        return f"{out_dir} is claimed by a run whose claim ({LOCK}) cannot be read"
    if holder.state == "detached":
        return (f"{out_dir}: started with --detach by {holder.who()}; when its job has finished: "
                f"tokenmill report --build {out_dir}")
    if holder.is_dead():
        return (f"{out_dir} is incomplete: {holder.who()} was killed before it finished; "
                "a new run on it needs --force")
    return f"{out_dir} is being written by {holder.who()}; its report comes when it finishes"


def status_line(out_dir: str) -> str | None:
    """One line when OUT is claimed or incomplete (for `report` and `inspect`); None when it is finished."""
    lock, mark = FileSystems.join(out_dir, LOCK), FileSystems.join(out_dir, INCOMPLETE)
    if FileSystems.exists(lock):
        return _claimed_line(out_dir, _read(lock))
    if FileSystems.exists(mark):
        holder = _read(mark)
        who = holder.who() if holder else "the last run"
        how = f" ({holder.state})" if holder and holder.state != "running" else ""
        return f"{out_dir} is incomplete: {who} ended before it finished{how}; a new run on it replaces its files"
    return None


class StopSignal(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP, raised in the main thread so that the claim is released and OUT marked.

    A KeyboardInterrupt, so that runner code catching Exception lets it pass. Its only argument is
    the signal's name: Beam re-raises an exception from a DoFn as `type(exn)(args[0] + " [while
    running 'Step']")`, which keeps this type only if it can be built from a message (otherwise it
    becomes a RuntimeError, and a Ctrl-C looks like a failed run).
    """

    @property
    def signum(self) -> int:
        return signal.Signals[str(self.args[0]).split()[0]].value


def _raise_stop(signum, frame):
    raise StopSignal(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_on_signals():
    """Ctrl-C, SIGTERM (`kill`, a scheduler) and SIGHUP (a closed terminal) stop the run cleanly.

    A signal the launcher was started to ignore (`nohup`, a background job's SIGINT) stays ignored.
    """
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, _raise_stop)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Claim:
    """This run's hold on OUT; a context manager that releases it and marks OUT incomplete on failure."""

    def __init__(self, out_dir: str, holder: Holder):
        self.out_dir, self.holder, self._detached = out_dir, holder, False
        self._lock = FileSystems.join(out_dir, LOCK)
        self._mark = FileSystems.join(out_dir, INCOMPLETE)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if not self._detached:
                finish(self.out_dir)
            return
        if isinstance(exc, KeyboardInterrupt):
            signum = exc.signum if isinstance(exc, StopSignal) else signal.SIGINT
            how = "interrupted by Ctrl-C" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
        else:
            how = f"failed with {exc_type.__name__}"
        _write(self._mark, _encode(replace(self.holder, state=how)))
        _delete(self._lock)
        log.warning("%s is marked incomplete (%s); a new run on it replaces its files", self.out_dir, how)

    def detach(self) -> None:
        """Keeps the claim after the launcher returns: `tokenmill report --build` releases it."""
        self._detached = True
        _write(self._lock, _encode(replace(self.holder, state="detached")))


def claim(out_dir: str, options=None, force: bool = False) -> Claim:
    """Claims OUT (created if missing) for this run; OutputBusy when another run holds it."""
    if not FileSystems.exists(out_dir):
        try:
            FileSystems.mkdirs(out_dir)
        except OSError:   # a run starting at the same moment made it first; the claim below decides
            if not FileSystems.exists(out_dir):
                raise
    lock = FileSystems.join(out_dir, LOCK)
    holder = _this_run()
    if force:
        _delete(lock)
    if not _create_exclusive(lock, _encode(holder), options):
        raise OutputBusy(busy_line(out_dir, _read(lock)))
    try:
        _write(FileSystems.join(out_dir, INCOMPLETE), _encode(holder))
    except BaseException:   # Ctrl-C or a failed write before the Claim exists: leave no stale claim
        _delete(lock)
        raise
    return Claim(out_dir, holder)


def finish(out_dir: str) -> None:
    """OUT now holds a finished run: drops the incomplete mark, then the claim."""
    _delete(FileSystems.join(out_dir, INCOMPLETE))
    _delete(FileSystems.join(out_dir, LOCK))

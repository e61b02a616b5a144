"""What `tokenmill run` checks before its job starts, each mistake as one UsageError line.

A mistake found inside the running pipeline costs a traceback from a worker, and one found after
`clear_outputs` costs the earlier run's files; so everything that can be known from the command
line and a listing is checked here first: the output is a directory that can be made, every input
matches files whose format tokenmill can tell (for local paths and for what gs:// and s3:// listings
return), and no input lies in the part of OUT the run clears before reading it.
"""

from __future__ import annotations

import os

from apache_beam.io.filesystems import FileSystems

from tokenmill.pipelines.cli import UsageError
from tokenmill.transforms.readers import InputConfig, detect_format

GLOB_CHARS = "*?["
KNOWN_NAMES = ".warc, .wet, .arc, .jsonl, .json, .ndjson, .parquet, .paths, each optionally .gz or .zst"


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def check_output(out_dir: str) -> None:
    """OUT is (or can become) a directory: not a file, not under a file, writable where it is local."""
    if not out_dir.strip():
        raise UsageError("--output: an empty path")
    if not _is_local(out_dir):   # object stores have no files-versus-folders; the claim tests writing
        return
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"--output {out_dir}: is a file, not a directory")
    parent = os.path.abspath(out_dir)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"--output {out_dir}: {parent} is a file, so no directory can be made under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--output {out_dir}: cannot write in {parent} (permission denied)")


def _match(pattern: str) -> list[str]:
    if not pattern.strip():
        raise UsageError("--input: an empty path")
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception as err:  # a filesystem Beam cannot reach, bad credentials, bad URL
        raise UsageError(f"--input {pattern}: cannot list it ({type(err).__name__}: {err})") from None
    if not matched:
        raise UsageError(f"--input {pattern}: no such file (nothing matches)")
    return [m.path for m in matched]


def _check_file(pattern: str, path: str, cfg: InputConfig) -> None:
    which = "" if path == pattern else f"matches {path}, which "
    if _is_local(path) and os.path.isdir(path):
        raise UsageError(f"--input {pattern}: {which}is a directory; give its files, e.g. "
                         f"'{os.path.join(path, '*.warc.gz')}'")
    if _is_local(path) and not os.access(path, os.R_OK):
        raise UsageError(f"--input {pattern}: {which}cannot be read (permission denied)")
    if cfg.format == "auto":
        try:
            detect_format(path)
        except ValueError:
            raise UsageError(f"--input {pattern}: {which}has a name whose format tokenmill cannot tell "
                             f"(known: {KNOWN_NAMES}); set input.format") from None


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _check_not_cleared(pattern: str, paths: list[str], out_dir: str, parts: tuple[str, ...]) -> None:
    from tokenmill.pipelines.run import absolute_path

    out = absolute_path(out_dir)
    for path in paths:
        for part in parts:
            if _inside(absolute_path(path), FileSystems.join(out, part)):
                raise UsageError(f"--input {pattern}: {path} lies in {part}/ of --output {out_dir}, which the run "
                                 "clears before reading its inputs; copy it elsewhere or use another --output")


def check_inputs(patterns: list[str], cfg: InputConfig, out_dir: str) -> None:
    """Every input matches readable files of a known format, none inside what the run clears in OUT."""
    from tokenmill.pipelines.run import OUTPUT_PARTS

    for pattern in patterns:
        paths = _match(pattern)
        for path in paths:
            _check_file(pattern, path, cfg)
        _check_not_cleared(pattern, paths, out_dir, OUTPUT_PARTS)

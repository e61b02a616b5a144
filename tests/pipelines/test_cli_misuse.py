"""Misuse without surprises (issue 19): one run per output directory, one clear line per mistake.

The table and the life of one OUT run the real `tokenmill` console script in a subprocess, as a
user types it, on the bundled samples. Every mistake must give exit status 2, exactly one line on
stderr and no traceback, and must leave an earlier run's files in OUT as they were. The life of
OUT: a run stopped by Ctrl-C leaves it marked incomplete; a run killed outright (SIGKILL) leaves its
claim, so the next run is refused until `--force`; while that run works, a second run on the same
OUT is refused, and the first finishes with its accounting intact.

The Hypothesis sweep calls `main()` in this process: a subprocess costs seconds of imports per
example, and the sweep needs dozens. Every example is a mistake by construction, so it never
starts a pipeline (a case that did would fail on its exit status).
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenmill.pipelines.cli import USAGE_ERROR, main
from tokenmill.pipelines.report import invariant_problems, load_report

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_GLOB = str(SAMPLES / "*.gz")
WARC = str(SAMPLES / "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz")
TOKENMILL = str(Path(sys.executable).with_name("tokenmill"))   # the installed entry point
# Enough of the recipe to write docs/ and a report, fast: no filter models, no tokenizer training.
FAST = ("--config", "tiny", "--set", "filters.order=[]", "--set", "tokenize.enabled=false")


def tokenmill(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([TOKENMILL, *args], capture_output=True, text=True, timeout=timeout)


def start_run(out: Path, *extra: str) -> subprocess.Popen:
    """Starts `tokenmill run` on the samples; returns once it holds OUT (its 'running on' line)."""
    # SIGINT as a terminal gives it: a test runner started in the background (`nohup`, `cmd &`) ignores
    # SIGINT, its children inherit that, and tokenmill keeps an ignored signal ignored (run_lock).
    proc = subprocess.Popen([TOKENMILL, "run", "--input", SAMPLE_GLOB, "--output", str(out), *FAST, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stderr:
        if line.startswith("tokenmill: running on"):
            return proc
    raise AssertionError(f"the run ended before it held OUT: {proc.wait()}")


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    _, rest = proc.communicate(timeout=timeout)
    return proc.returncode, rest


def one_line(result: subprocess.CompletedProcess | tuple[int, str], *fragments: str) -> str:
    """Asserts exit 2 and a single `tokenmill: error:` line holding every fragment; returns the line."""
    code, err = (result.returncode, result.stderr) if hasattr(result, "stderr") else result
    lines = err.strip().splitlines()
    assert code == USAGE_ERROR and len(lines) == 1, err
    assert lines[0].startswith("tokenmill: error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def snapshot(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def life(tmp_path_factory) -> dict:
    """One OUT through its life; what each step printed and left, for the tests below to check."""
    out = tmp_path_factory.mktemp("life") / "out"
    seen: dict = {"out": out}
    proc = start_run(out)
    time.sleep(2)   # inside the job
    proc.send_signal(signal.SIGINT)
    seen["ctrl_c"] = (*finish(proc), sorted(p.name for p in out.iterdir()))
    seen["ctrl_c_report"] = tokenmill("report", str(out))

    proc = start_run(out)   # the next run clears the mark; then it is killed without a chance to clean up
    proc.kill()
    proc.wait()
    seen["killed_pid"] = proc.pid
    seen["killed_report"] = tokenmill("report", str(out))
    seen["after_kill"] = tokenmill("run", "--input", SAMPLE_GLOB, "--output", str(out), *FAST)

    first = start_run(out, "--force")
    lock = json.loads((out / "_LOCK.json").read_text())
    second = tokenmill("run", "--input", SAMPLE_GLOB, "--output", str(out), *FAST)
    seen["first_still_running"] = first.poll() is None
    seen.update(first_pid=first.pid, lock=lock, second=second, first=finish(first))
    seen["report"] = tokenmill("report", str(out))
    return seen


@pytest.mark.e2e
def test_ctrl_c_leaves_out_marked_incomplete(life):
    code, err, names = life["ctrl_c"]
    assert code == 130 and err.strip().endswith("tokenmill: interrupted") and "Traceback" not in err
    assert "_INCOMPLETE.json" in names and "_LOCK.json" not in names   # marked, and free for the next run
    one_line(life["ctrl_c_report"], "is incomplete", "interrupted by Ctrl-C", "a new run on it replaces its files")


@pytest.mark.e2e
def test_a_killed_run_is_named_and_needs_force(life):
    pid = f"(pid {life['killed_pid']})"
    one_line(life["killed_report"], "is incomplete", pid, "was killed before it finished")
    one_line(life["after_kill"], "is incomplete", pid, "rerun with --force to replace it")


@pytest.mark.e2e
def test_a_second_run_is_refused_while_the_first_holds_out(life):
    assert life["first_still_running"], "the first run ended before the second was refused: nothing was tested"
    one_line(life["second"], f"(pid {life['first_pid']})", "is in use by the run started", life["lock"]["started"])
    code, err = life["first"]
    assert code == 0, err
    out = life["out"]
    report = load_report(str(out))
    assert invariant_problems(report) == [] and report["input"]["files"] == 3
    assert report["output"]["documents"] == report["stages"][-1]["kept"] > 0
    assert not (out / "_LOCK.json").exists() and not (out / "_INCOMPLETE.json").exists()
    assert life["report"].returncode == 0 and "accounting invariant: holds" in life["report"].stdout


@pytest.fixture(scope="module")
def finished(life, tmp_path_factory) -> tuple[Path, dict[str, str], Path]:
    """The finished OUT, its files' hashes, and a plain file to misuse as a directory."""
    a_file = tmp_path_factory.mktemp("misc") / "notes.txt"
    a_file.write_text("not a directory\n")
    return life["out"], snapshot(life["out"]), a_file


MISTAKES = [
    # (arguments; OUT = the finished run, FILE = a plain file), fragments of the one line
    (["run", "--input", WARC, "--output", "FILE"], ["--output FILE: is a file, not a directory"]),
    (["run", "--input", WARC, "--output", "FILE/sub"], ["is a file, so no directory can be made under it"]),
    (["run", "--input", "", "--output", "OUT"], ["--input: an empty path"]),
    (["run", "--input", str(SAMPLES / "README.md"), "--output", "OUT"], ["README.md: has a name whose format",
                                                                         "set input.format"]),
    (["run", "--input", str(SAMPLES / "*"), "--output", "OUT"], ["matches", "README.md, which has a name"]),
    (["run", "--input", str(SAMPLES), "--output", "OUT"], ["is a directory; give its files"]),
    (["run", "--input", str(SAMPLES / "*.warc.bz2"), "--output", "OUT"], ["no such file (nothing matches)"]),
    (["run", "--input", "OUT/docs/*.parquet", "--output", "OUT"], ["lies in docs/ of --output",
                                                                   "clears before reading"]),
    (["run", "--input", "nosuchscheme://bucket/a.warc.gz", "--output", "OUT"], ["cannot list it"]),
    (["run", "--input", WARC, "--output", "OUT", "--config", str(SAMPLES / "README.md")], ["not valid YAML"]),
    (["run", "--input", WARC, "--output", "OUT", "--config", WARC], ["not a YAML file (not UTF-8 text)"]),
    (["run", "--input", WARC, "--output", "OUT", "--config", str(SAMPLES)], ["cannot read it"]),
    (["run", "--input", WARC, "--output", "OUT", "--set", "input.limit=-1"], ["input: limit must be >= 0, got -1"]),
    (["run", "--input", WARC, "--output", "OUT", "--set", "output.docs_shards=-2"], ["output: docs_shards must be >= 0, got -2"]),
    (["run", "--input", WARC, "--output", "OUT", "--set", "tokenize.num_shards=0"], ["num_shards and val_shards"]),
    (["run", "--input", WARC, "--output", "OUT", "--set", "language.batch_size=0"], ["language: batch_size must be >= 1, got 0"]),
    (["run", "--input", WARC, "--output", "OUT", "--set", "extract.max_html_mb=0"], ["max_html_mb must be"]),
    (["run", "--input", WARC, "--output", "OUT", "--set", "extract.time_limit_s=.nan"], ["expected a number"]),
    (["run", "--input", WARC, "--output", "OUT", "--set", "near_dedup.num_perm=-112"], ["num_perm must be"]),
    (["run", "--input", WARC, "--output", "OUT", "--set", "input.limit"], ["--set expects key=value"]),
    (["run", "--input", WARC, "--output", "OUT", "--runner=NoSuchRunner"], ["--runner=NoSuchRunner: Unexpected"]),
    (["run", "--input", WARC, "--output", "OUT", "--direct_num_workers=-1"], ["must be >= 0"]),
    (["report", "--build", "OUT"], ["--build is for runs started with --detach"]),
    (["report", "FILE"], ["no report/report.json"]),
]


@pytest.mark.e2e
@pytest.mark.parametrize("args, fragments", MISTAKES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in MISTAKES])
def test_each_mistake_is_one_line_and_out_is_untouched(finished, args, fragments):
    out, before, a_file = finished

    def fill(text: str) -> str:
        return text.replace("OUT", str(out)).replace("FILE", str(a_file))

    line = one_line(tokenmill(*[fill(a) for a in args]), *[fill(f) for f in fragments])
    assert "\n" not in line and len(line) < 400, line
    assert snapshot(out) == before, "a refused command changed the earlier run's files"


# --- the property-based sweep (in process, never a pipeline) --------------------------------------

# Config keys that count or measure something: (key, the smallest value they accept).
COUNTS = [("input.limit", 0), ("input.skip", 0), ("output.docs_shards", 0), ("output.samples_per_reason", 0),
          ("extract.memory_limit_mb", 0), ("language.top_k", 1), ("language.batch_size", 1),
          ("language.max_chars", 0), ("tokenize.vocab_size", 1), ("tokenize.num_shards", 1),
          ("tokenize.num_threads", 1), ("tokenize.sample_docs", 1), ("toxicity.batch_size", 1),
          ("toxicity.max_length", 1), ("pii.batch_size", 1), ("pii.context_prefix_words", 0),
          ("near_dedup.ngram", 1), ("near_dedup.max_rounds", 1), ("url.soft_word_min_hits", 1),
          ("quality.c4.min_sentences", 0)]
NUMBERS = [key for key, _ in COUNTS] + ["language.min_score", "toxicity.threshold", "input.max_record_mb",
                                        "extract.time_limit_s", "tokenize.val_fraction"]

too_small = st.sampled_from(COUNTS).flatmap(
    lambda kv: st.integers(max_value=kv[1] - 1).map(lambda n: f"{kv[0]}={n}"))
not_a_number = st.tuples(st.sampled_from(NUMBERS), st.one_of(
    st.from_regex(r"[a-zA-Z_][a-zA-Z_ ]{0,12}", fullmatch=True),   # YAML reads these as text (or bool/null)
    st.sampled_from(["[1, 2]", "{a: 1}", ".nan", "true", "null", "''"]))).map("=".join)
NOT_YAML = ["[", "{", "'", '"', "]x", "{a: [}", "@x", "`x", "a: b: c", "!!python/object:os.system"]
broken_yaml = st.tuples(st.sampled_from(NUMBERS), st.sampled_from(NOT_YAML)).map("=".join)
bad_shape = st.one_of(
    st.from_regex(r"[a-z_.]{0,20}", fullmatch=True),                                  # no '='
    st.from_regex(r"=[a-z0-9]{0,5}", fullmatch=True),                                  # no key
    st.from_regex(r"nosuchsection\.[a-z_]{1,10}=[0-9]{1,3}", fullmatch=True),          # unknown section
    st.from_regex(r"input\.limit\.[a-z]{1,8}=1", fullmatch=True),                      # below a value
    st.from_regex(r"(input|extract|tokenize)\.zz[a-z_]{0,10}=1", fullmatch=True))      # unknown key
malformed_set = st.one_of(too_small, not_a_number, broken_yaml, bad_shape)

file_stem = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
unknown_suffix = st.sampled_from(["", ".txt", ".md", ".html", ".csv", ".gz", ".zst", ".warc.bz2", ".tar", ".7z"])


@pytest.fixture(scope="module")
def stand_in_run(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """An OUT holding what a finished run leaves (files written here; only their survival matters)."""
    out = tmp_path_factory.mktemp("earlier") / "out"
    for name in ("docs/part-00000-of-00001.parquet", "tokens/manifest.json", "report/report.json",
                 "stats/read.json", "config.resolved.yaml"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(hashlib.sha256(name.encode()).digest())
    return out, snapshot(out)


def _one_line_in_process(capfd, argv: list[str]) -> str:
    capfd.readouterr()
    code = main(argv)
    err = capfd.readouterr().err
    lines = err.strip().splitlines()
    assert code == USAGE_ERROR and len(lines) == 1 and lines[0].startswith("tokenmill: error: "), (argv, err)
    return lines[0]


SWEEP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SWEEP
@given(assignment=malformed_set)
def test_sweep_malformed_set_values(capfd, stand_in_run, assignment):
    out, before = stand_in_run
    _one_line_in_process(capfd, ["run", "--input", WARC, "--output", str(out), "--set", assignment])
    assert snapshot(out) == before


@SWEEP
@given(stem=file_stem, suffix=unknown_suffix, kind=st.sampled_from(["unknown format", "missing", "empty glob",
                                                                    "output is a file", "output under a file"]))
def test_sweep_malformed_paths(capfd, stand_in_run, tmp_path_factory, stem, suffix, kind):
    out, before = stand_in_run
    folder = tmp_path_factory.mktemp("paths")
    a_file = folder / f"{stem}{suffix}"
    a_file.write_bytes(b"WARC/1.0\r\n")
    inputs, output, expect = {
        "unknown format": (str(a_file), str(out), "set input.format"),
        "missing": (str(folder / "nothere" / f"{stem}.warc.gz"), str(out), "no such file"),
        "empty glob": (str(folder / f"{stem}*.warc.gz"), str(out), "no such file"),
        "output is a file": (WARC, str(a_file), "is a file, not a directory"),
        "output under a file": (WARC, str(a_file / "out"), "no directory can be made under it"),
    }[kind]
    line = _one_line_in_process(capfd, ["run", "--input", inputs, "--output", output])
    assert expect in line, line
    assert snapshot(out) == before

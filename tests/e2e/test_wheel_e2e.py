"""`pip install` of the built wheel, not the editable checkout, gives a working tokenmill.

The wheel is built from a copy of the repository's files, its build log must hold no packaging
warning, and it is installed with its `train` extra into a fresh virtual environment in a
temporary folder. That environment resolves tokenmill's dependencies against the packages of the
environment running the tests (a folder of links, found through a .pth file, without tokenmill
itself) with `--no-index`, so pip checks every requirement the wheel declares and downloads
nothing. Then, from a folder outside the checkout, the README's path: the demo's `tokenmill run`
on samples/, `tokenmill report`, the README's `tokenmill train` (a couple of steps) on the demo's
own shards, `tokenmill sample`, and the report with the training log.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from testdata import REPO, demo_argv

pytestmark = pytest.mark.e2e
SKIP_COPY = shutil.ignore_patterns(".git", ".venv", "out", "build", "dist", "*.egg-info", "__pycache__")


def run(argv: list, cwd: Path, env: dict, timeout: float = 600, both: bool = False) -> str:
    """stdout of a command that must succeed (stdout and stderr with both=True)."""
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{argv}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr if both else result.stdout


def build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=SKIP_COPY)
    log = run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp / "dist", "."], src,
              dict(os.environ), both=True)
    # The project's own packaging warns about nothing (a license table, an unlisted package, ...);
    # "byte-compiling is disabled" is this interpreter's PYTHONDONTWRITEBYTECODE, not the project.
    warnings = [line for line in log.splitlines() if re.search(r"warn|deprecat", line, re.I)
                and "byte-compiling is disabled" not in line]
    assert warnings == [], "\n".join(warnings)
    (wheel,) = (tmp / "dist").glob("tokenmill-*.whl")
    return wheel


def fresh_venv(tmp: Path) -> tuple[Path, dict]:
    """A new venv whose only way to the test environment's packages is a folder of links (no tokenmill)."""
    deps = tmp / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("tokenmill", "__editable__", "_tokenmill")):
            (deps / entry.name).symlink_to(entry)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    purelib = next((venv / "lib").glob("python3*/site-packages"))
    (purelib / "test-deps.pth").write_text(f"{deps}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return venv, env


def test_the_wheel_runs_the_readme_path_from_demo_to_trainer(tmp_path):
    wheel = build_wheel(tmp_path)
    venv, env = fresh_venv(tmp_path)
    log = run([venv / "bin" / "python", "-m", "pip", "install", "--no-index", "--no-build-isolation",
               f"{wheel}[train]"], tmp_path, env)
    assert "Successfully installed tokenmill-0.1.0" in log

    work = tmp_path / "work"   # outside the checkout: nothing can import the source folders
    shutil.copytree(REPO / "samples", work / "samples")
    where = run([venv / "bin" / "python", "-c", "import tokenmill.pipelines as p; print(p.__file__)"], work, env)
    assert Path(where.strip()).is_relative_to(venv)
    tokenmill = venv / "bin" / "tokenmill"

    run([tokenmill, *demo_argv()], work, env)                       # the demo's job, default preset
    manifest = json.loads((work / "out/sample/tokens/manifest.json").read_text())
    val = [s for s in manifest["shards"] if s["split"] == "val"]
    assert sum(s["rows"] for s in val) == 4 and sum(s["tokens"] for s in val) > 128   # val_min_docs, > 1 block
    assert "documents" in run([tokenmill, "report", "out/sample"], work, env)

    readme = (REPO / "README.md").read_text()
    train, sample = (shlex.split(re.search(rf"^    \.venv/bin/tokenmill {c} .*$", readme, re.M).group(0))[1:]
                     for c in ("train", "sample"))
    run([tokenmill, *train, "--set", "train.max_steps=2", "--set", "train.eval_interval=2", "--set",
         "train.log_interval=1", "--set", "train.eval_batches=2", "--set", "train.cpu_threads=1"], work, env)
    steps = [json.loads(line) for line in (work / "out/model/train_log.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps if "loss" in s][-1] == 2
    assert "val_loss" in steps[0] and "val_loss" in steps[-1]      # the demo's shards have a validation split
    assert run([tokenmill, *sample, "--max-new-tokens", "8"], work, env).strip()
    run([tokenmill, "report", "out/sample", "--train-log", "out/model"], work, env)

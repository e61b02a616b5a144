"""The worker package that `--setup_file=setup.py` ships holds everything a worker needs.

On Dataflow, Flink and Spark the launcher builds an sdist of the project (Beam 2.62's stager
runs `python -m build --sdist --no-isolation` in setup.py's folder) and each SDK worker
pip-installs it. A module or data file missing from that sdist (a new subpackage left out of
`packages`, a preset or model file left out of `package-data`) works from a checkout and fails
only on the cluster. This test builds the package through Beam's own stager, installs it into a
fresh virtual environment (dependencies come from the test's environment through a .pth line,
so nothing is downloaded or rebuilt), and checks there that every module of the checkout imports
from the installed copy, that every data file is installed unchanged, and that a small run of the
pipeline works from it. No `save_main_session`: workers import the pipeline's code by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"pipelines": "tokenmill.pipelines", "transforms": "tokenmill.transforms", "model": "tokenmill.model"}
WORKER_FOLDERS = ("pipelines", "transforms")    # model/ is the trainer, not needed on pipeline workers
SAMPLE_WARC = ROOT / "samples" / "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz"

pytestmark = pytest.mark.e2e


def _checkout_files(folders) -> list[Path]:
    """Every file of the checkout's code folders (modules and data), relative to the root."""
    return [p.relative_to(ROOT) for folder in folders for p in sorted((ROOT / folder).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]


def _module(rel: Path) -> str:
    """pipelines/run.py -> tokenmill.pipelines.run; transforms/beam/__init__.py -> tokenmill.transforms.beam."""
    dotted = ".".join([FOLDERS[rel.parts[0]], *rel.with_suffix("").parts[1:]])
    return dotted.removesuffix(".__init__")


def _installed(rel: Path) -> str:
    """Where a checkout file lands in site-packages: pipelines/presets/tiny.yaml -> tokenmill/pipelines/presets/tiny.yaml."""
    return str(Path(*FOLDERS[rel.parts[0]].split("."), *rel.parts[1:]))


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    """The workflow tarball exactly as the launcher stages it for `--setup_file=setup.py`."""
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.stager import Stager

    out = tmp_path_factory.mktemp("staging")
    options = PipelineOptions([f"--setup_file={ROOT / 'setup.py'}"])
    Stager.create_job_resources(options, str(out), log_submission_env_dependencies=False)
    tarballs = list(out.glob("*.tar.gz"))
    assert len(tarballs) == 1, f"expected one sdist in {out}: {os.listdir(out)}"
    return tarballs[0]


@pytest.fixture(scope="module")
def worker_python(sdist, tmp_path_factory) -> Path:
    """A fresh venv with the sdist installed (pip builds it, as an SDK container's boot does)."""
    venv = tmp_path_factory.mktemp("worker_venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    # The dependencies (Beam, pyarrow, ...) come from this environment, after the venv's own
    # site-packages; the checkout's editable install is not visible (its .pth is not processed).
    (site / "deps_from_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "--ignore-installed", str(sdist)], check=True)
    return python


def test_sdist_carries_every_module_and_data_file(sdist):
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    missing = [str(rel) for rel in _checkout_files(FOLDERS) if str(rel) not in names]
    assert not missing, f"left out of the worker sdist (packages / package-data in pyproject.toml): {missing}"


def test_installed_package_imports_every_worker_module_and_data_file(worker_python):
    modules = [_module(rel) for rel in _checkout_files(WORKER_FOLDERS) if rel.suffix == ".py"]
    data = {_installed(rel): hashlib.sha256((ROOT / rel).read_bytes()).hexdigest()
            for rel in _checkout_files(FOLDERS) if rel.suffix != ".py"}
    script = textwrap.dedent(f"""
        import hashlib, importlib, json, sysconfig
        from pathlib import Path
        site = Path(sysconfig.get_paths()["purelib"]).resolve()
        found = {{}}
        for name in {modules!r}:
            found[name] = Path(importlib.import_module(name).__file__).resolve().is_relative_to(site)
        for rel in {sorted(data)!r}:
            path = site / rel
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"
        from tokenmill.pipelines.config import load_config, preset_names
        for preset in preset_names():
            load_config(preset)
        found["presets"] = preset_names()
        print(json.dumps(found))
    """)
    result = subprocess.run([str(worker_python), "-c", script], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr[-4000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(modules) > 10
    assert [m for m in modules if found[m] is not True] == [], "imported from outside the installed package"
    assert {rel: found[rel] for rel in data} == data
    assert {"default", "tiny"} <= set(found["presets"])


def test_pipeline_runs_from_the_installed_package(worker_python, tmp_path):
    argv = [str(worker_python), "-c", "import sys; from tokenmill.pipelines.cli import main; sys.exit(main())",
            "run", "--input", str(SAMPLE_WARC), "--output", str(tmp_path / "out"), "--config", "tiny"]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert list((tmp_path / "out" / "docs").glob("*.parquet"))
    assert (tmp_path / "out" / "report" / "report.json").exists()

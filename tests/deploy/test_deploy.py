"""What can be checked of deploy/ without Docker, a cloud project or a Kubernetes cluster.

The version pins that must agree (the image's Beam and Python with the launcher's, the Flink job
server's Flink with the cluster's and with what Beam publishes), the Flex Template entry point
and its parameters (run for real, with the DirectRunner), the launch script's commands (dry
run), and the Kubernetes manifests (parsed; the tokenmill command line they carry is checked by
tokenmill's own option parser).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import apache_beam
import pytest
import yaml
from apache_beam.options.pipeline_options import FlinkRunnerOptions

from tokenmill.pipelines.cli import beam_options, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SAMPLE_WARC = ROOT / "samples" / "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _manifests() -> dict[str, dict]:
    return {doc["kind"]: doc for path in sorted((DEPLOY / "flink").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text())}


def test_worker_image_pins_the_launchers_beam_and_python():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^ARG BEAM_VERSION=(\S+)$", dockerfile, re.M).group(1) == apache_beam.__version__
    assert f"FROM apache/beam_python{PYTHON}_sdk:${{BEAM_VERSION}}" in dockerfile
    assert f"python{PYTHON.replace('.', '')}-template-launcher-base" in dockerfile
    flex_file = re.search(r"FLEX_TEMPLATE_PYTHON_PY_FILE=/opt/tokenmill/(\S+)", dockerfile).group(1)
    assert (ROOT / flex_file).is_file()   # the image copies the repository to /opt/tokenmill
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and not any(p in ignored for p in ("pipelines", "transforms", "deploy"))


def test_flink_versions_agree_with_beam():
    manifests = _manifests()
    flink = manifests["FlinkDeployment"]["spec"]
    version = flink["flinkVersion"].removeprefix("v").replace("_", ".")
    assert version in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    assert flink["image"] == f"flink:{version}"
    job_server = manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert job_server["image"] == f"apache/beam_flink{version}_job_server:{apache_beam.__version__}"
    assert "--flink-master=tokenmill-flink-rest:8081" in job_server["args"]   # the operator's <name>-rest service
    assert manifests["FlinkDeployment"]["metadata"]["name"] == "tokenmill-flink"


def test_flink_run_reaches_the_sidecar_worker_pool_and_the_job_server():
    manifests = _manifests()
    containers = manifests["FlinkDeployment"]["spec"]["taskManager"]["podTemplate"]["spec"]["containers"]
    assert containers[0]["name"] == "flink-main-container"
    pool = next(c for c in containers if c["name"] == "beam-worker-pool")
    assert pool["args"] == ["--worker_pool"]
    run = manifests["Job"]["spec"]["template"]["spec"]["containers"][0]
    assert run["image"] == pool["image"]
    args = run["args"]
    port = pool["ports"][0]["containerPort"]
    assert f"--environment_config=localhost:{port}" in args
    service_ports = {p["name"]: p["port"] for p in manifests["Service"]["spec"]["ports"]}
    assert f"--job_endpoint=beam-job-server:{service_ports['job']}" in args
    assert f"--artifact_endpoint=beam-job-server:{service_ports['artifact']}" in args
    # The whole command line passes tokenmill's parser, Beam flags included (a typo would not).
    parsed, beam_args = build_parser().parse_known_args(args)
    assert parsed.command == "run" and parsed.config == "default"
    options = beam_options(beam_args).get_all_options()
    assert options["runner"] == "PortableRunner" and int(options["sdk_worker_parallelism"]) == 4


def test_flex_template_parameters_are_the_entry_points():
    metadata = json.loads((DEPLOY / "dataflow" / "metadata.json").read_text())
    names = [p["name"] for p in metadata["parameters"]]
    assert names == ["input", "output", "config", "overrides"]
    help_text = subprocess.run([sys.executable, str(DEPLOY / "dataflow" / "main.py"), "--help"],
                               capture_output=True, text=True, check=True).stdout
    for name in names:
        assert f"--{name}" in help_text
    assert all(re.compile(p).match("gs://bucket/crawl/*.warc.gz")
               for p in metadata["parameters"][0]["regexes"])


def _flex_main():
    """deploy/dataflow/main.py, the file the Flex launcher runs (not a package module)."""
    spec = importlib.util.spec_from_file_location("tokenmill_flex_main", DEPLOY / "dataflow" / "main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flex_entry_point_runs_detached_then_the_report_builds(tmp_path, capsys):
    out = tmp_path / "out"
    code = _flex_main().main([f"--input={SAMPLE_WARC}", f"--output={out}", "--config=tiny",
                              "--overrides=extract.time_limit_s=20;output.samples_per_reason=2",
                              "--runner=DirectRunner"])
    assert code == 0, capsys.readouterr().err
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["extract"]["time_limit_s"] == 20.0 and resolved["output"]["samples_per_reason"] == 2
    assert (out / "report" / "pending.json").exists() and not (out / "report" / "report.json").exists()
    assert main(["report", "--build", str(out)]) == 0
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["input"]["records"] == 50 and report["output"]["documents"] > 0


def test_flex_entry_point_defaults_to_dataflow():
    argv = _flex_main().tokenmill_argv(["--input=gs://a/x.warc.gz;gs://b/*.warc.gz", "--output=gs://o/run",
                                     "--overrides=language.languages=[en,de];toxicity.threshold=0.8",
                                     "--project=p", "--region=europe-west4"])
    assert argv == ["run", "--input", "gs://a/x.warc.gz", "gs://b/*.warc.gz", "--output", "gs://o/run",
                    "--config", "default", "--set", "language.languages=[en,de]", "--set", "toxicity.threshold=0.8",
                    "--detach", "--runner=DataflowRunner", "--project=p", "--region=europe-west4"]


@pytest.mark.parametrize("command, expected", [
    ("image", ["docker build --platform linux/amd64 -f deploy/Dockerfile", "docker push REG-docker.pkg.dev/proj/repo/tokenmill-worker:t1"]),
    ("template", ["gcloud dataflow flex-template build gs://bkt/templates/tokenmill-t1.json",
                  "--metadata-file deploy/dataflow/metadata.json"]),
    ("run", ["gcloud dataflow flex-template run tokenmill-", "--template-file-gcs-location gs://bkt/templates/tokenmill-t1.json",
             "sdk_container_image=REG-docker.pkg.dev/proj/repo/tokenmill-worker:t1"]),
    ("report", ["tokenmill report --build gs://bkt/out"]),
])
def test_launch_script_commands(command, expected):
    env = dict(os.environ, DRY_RUN="1", PROJECT="proj", REGION="REG", REPOSITORY="repo", BUCKET="bkt", TAG="t1",
               INPUT="gs://bkt/in/*.warc.gz", OUTPUT="gs://bkt/out")
    result = subprocess.run(["bash", str(DEPLOY / "dataflow" / "launch.sh"), command], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout.replace("\\", "")


def test_launch_script_without_a_command_prints_usage():
    result = subprocess.run(["bash", str(DEPLOY / "dataflow" / "launch.sh")], capture_output=True, text=True)
    assert result.returncode == 2 and "flex-template" in result.stderr


def _readme_tokenmill_runs() -> list[list[str]]:
    """Every `tokenmill run ...` command in deploy/README.md's code blocks, as argv."""
    text = (DEPLOY / "README.md").read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\$\{?(\w+)\}?", r"\1", line.split(" #")[0])    # "$IMAGE" -> IMAGE
            if line.strip().startswith("tokenmill run"):
                commands.append(shlex.split(line)[1:])
    return commands


def test_readme_commands_parse():
    commands = _readme_tokenmill_runs()
    assert len(commands) >= 3
    for argv in commands:
        args, beam_args = build_parser().parse_known_args(argv)
        assert args.command == "run" and args.output
        assert beam_options(beam_args).get_all_options()["runner"] in ("PortableRunner", "DataflowRunner")

"""Dataflow Flex Template entry point: template parameters in, `tokenmill run --detach` out.

The Flex Template launcher runs this file (FLEX_TEMPLATE_PYTHON_PY_FILE in deploy/Dockerfile)
inside the worker image, with each template parameter as `--name=value` followed by Dataflow's
pipeline options (--project, --region, --temp_location, --sdk_container_image, ...). Everything
that is not a template parameter goes to Beam, checked by tokenmill's own option parser.

A launch must return within minutes (the launcher times out while the program that builds the
graph runs) and the launcher submits the job from what the program leaves, so the program must
not wait for the job: it runs detached; once the job has finished,
`tokenmill report --build OUTPUT` writes the report from the stats files the workers left.

Parameters (deploy/dataflow/metadata.json): `input` (paths, globs or warc.paths.gz listings,
separated by ';'), `output`, `config` (a bundled preset or a YAML path inside the image),
`overrides` ('key=value' assignments separated by ';', as `--set` takes them).
"""

from __future__ import annotations

import argparse
import sys

SEPARATOR = ";"   # not ',': gcloud splits --parameters on commas, and values such as [en,de] hold them


def tokenmill_argv(argv: list[str]) -> list[str]:
    """The `tokenmill` command line for the launcher's arguments."""
    parser = argparse.ArgumentParser(prog="deploy/dataflow/main.py", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help=f"paths, globs or listings separated by '{SEPARATOR}'")
    parser.add_argument("--output", required=True, help="output directory (gs://...)")
    parser.add_argument("--config", default="default", help="bundled preset or YAML path inside the image")
    parser.add_argument("--overrides", default="", help=f"key=value assignments separated by '{SEPARATOR}'")
    args, beam_args = parser.parse_known_args(argv)
    inputs = [p.strip() for p in args.input.split(SEPARATOR) if p.strip()]
    sets = [arg for o in args.overrides.split(SEPARATOR) if o.strip() for arg in ("--set", o.strip())]
    if not any(a == "--runner" or a.startswith("--runner=") for a in beam_args):
        beam_args = ["--runner=DataflowRunner", *beam_args]
    return ["run", "--input", *inputs, "--output", args.output, "--config", args.config, *sets,
            "--detach", *beam_args]


def main(argv: list[str] | None = None) -> int:
    from tokenmill.pipelines.cli import main as tokenmill_main

    return tokenmill_main(tokenmill_argv(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())

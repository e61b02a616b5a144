#!/usr/bin/env bash
# Installs tokenmill in a virtual environment and runs the main job on the bundled sample WARCs.
# Only the pipeline is installed: the trainer's torch comes with the `train` extra (README.md).
# Extra arguments go to `tokenmill run`, e.g. --config tiny.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
.venv/bin/tokenmill run --input 'samples/*.gz' --output out/sample "$@"
echo "report: $(pwd)/out/sample/report/index.html (summary: .venv/bin/tokenmill report out/sample)"

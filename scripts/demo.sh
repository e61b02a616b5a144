#!/usr/bin/env bash
# Installs tokenmill in a virtual environment and runs the main job on the bundled sample WARCs.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[train]'
.venv/bin/tokenmill run --input 'samples/*.gz' --output out/sample "$@"
echo "report: $(pwd)/out/sample/report/index.html (summary: .venv/bin/tokenmill report out/sample)"

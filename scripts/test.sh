#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine (Debian's Chromium for the report test,
# a virtual environment with tokenmill and its test extras), then runs the tests.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not e2e".
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "scripts/test.sh: chromium and chromedriver missing; the browser test will fail (apt-get install chromium chromium-driver)" >&2
  fi
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[train,test,detoxify]'
exec .venv/bin/python -m pytest "$@"

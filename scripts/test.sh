#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine (Debian's Chromium for the report test,
# a JDK and Maven for the Flink and Spark clusters, a virtual environment with tokenmill and its
# test extras, the engines' jars and distributions and SeaweedFS's S3 server in ~/.cache/tokenmill),
# then runs the tests.
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
if ! command -v java >/dev/null || ! command -v jar >/dev/null || ! command -v mvn >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless maven >/dev/null
  else
    echo "scripts/test.sh: a JDK or Maven is missing; the Flink and Spark tests will fail (apt-get install default-jdk-headless maven)" >&2
  fi
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[train,test,detoxify]'
# The engines' jars (Maven) and distributions (PyPI), fetched once into the cache, before any
# test runs: a job never downloads anything (tests/pipelines/test_engines.py).
for engine in flink spark; do
  PYTHON="$PWD/.venv/bin/python" bash scripts/local_cluster.sh "$engine" fetch
done
# SeaweedFS's weed for the s3:// test: built once from the Go module proxy (installs Go when root;
# about 4 min on 2 cores), then cached. A failed build leaves the test to fail under CI=true.
bash scripts/fetch_seaweedfs.sh >/dev/null || echo "scripts/test.sh: no weed binary; the s3:// inspect test will skip (fail under CI=true)" >&2
exec .venv/bin/python -m pytest "$@"

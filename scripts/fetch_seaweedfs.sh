#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (Apache-2.0) once into the cache, for the test that reads a run from
# s3:// on a real S3-compatible server (tests/pipelines/test_inspect.py). MinIO's server is AGPL:
# not used. Prints the binary's path.
#
# `go install ...@version` is refused for this module (its go.mod has a replace directive), so the
# module is downloaded from the Go module proxy and built inside its own directory, where the
# replace applies. At low priority, so that a shared machine stays usable. Measured on 2 cores:
# 238 s with Go's default parallelism and an empty build cache (modules already downloaded),
# 22 min with GOFLAGS=-p=1 while a benchmark ran; about 230 MB of binary.
# The module needs Go >= 1.26.6: an older go (>= 1.21, e.g. Debian's golang-go) fetches that
# toolchain from the module proxy itself (GOTOOLCHAIN=auto, the default).
# Environment: TOKENMILL_CACHE (default ~/.cache/tokenmill), GOFLAGS (added to).
set -euo pipefail
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
MODULE=github.com/seaweedfs/seaweedfs
CACHE="${TOKENMILL_CACHE:-$HOME/.cache/tokenmill}"
BIN="$CACHE/seaweedfs-$SEAWEEDFS_VERSION/weed"
if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi
if ! command -v go >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
  else
    echo "scripts/fetch_seaweedfs.sh: Go is missing; the s3:// test will fail under CI=true and skip otherwise (apt-get install golang-go)" >&2
    exit 1
  fi
fi
dir=$(go mod download -json "$MODULE@$SEAWEEDFS_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { echo "scripts/fetch_seaweedfs.sh: could not download $MODULE@$SEAWEEDFS_VERSION" >&2; exit 1; }
mkdir -p "$(dirname "$BIN")"
started=$(date +%s)
(cd "$dir" && GOFLAGS="${GOFLAGS:-} -buildvcs=false" nice -n 19 go build -trimpath -o "$BIN.part" ./weed)
mv "$BIN.part" "$BIN"
echo "scripts/fetch_seaweedfs.sh: built weed in $(( $(date +%s) - started )) s" >&2
echo "$BIN"

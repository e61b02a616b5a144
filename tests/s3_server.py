"""A real S3-compatible server for the tests (importable as `s3_server`): SeaweedFS's `weed server -s3`.

SeaweedFS is Apache-2.0 (MinIO's server is AGPL: not used). scripts/fetch_seaweedfs.sh builds the
binary once into ~/.cache/tokenmill; its version is read from that script so the two never differ.
Every port is a free loopback port chosen here (the defaults, 8333, 9333, 8181, 9101, ..., may be
taken by another test run), and all data lives in the test's tmp directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ports import free_ports

REPO = Path(__file__).resolve().parents[1]
FETCH = REPO / "scripts" / "fetch_seaweedfs.sh"
ACCESS_KEY, SECRET_KEY, REGION = "tokenmill-test", "tokenmill-test-secret", "us-east-1"
# weed server's listeners: each gets a free port (grpc ports default to port + 10000, which can clash).
PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
              "filer.port.grpc", "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance")


def weed_binary() -> Path:
    """The cached binary; skips when absent, fails under CI=true (scripts/test.sh builds it there)."""
    version = re.search(r"^SEAWEEDFS_VERSION=(\S+)$", FETCH.read_text(), re.M).group(1)
    cache = Path(os.environ.get("TOKENMILL_CACHE") or Path.home() / ".cache" / "tokenmill")
    binary = cache / f"seaweedfs-{version}" / "weed"
    if os.access(binary, os.X_OK):
        return binary
    message = (f"S3 TEST NOT RUN: {binary} missing; build it with scripts/fetch_seaweedfs.sh "
               "(scripts/test.sh does)")
    print(message, file=sys.stderr)
    if os.environ.get("CI"):
        pytest.fail(message)   # CI builds the binary; a skip there would hide a broken setup
    pytest.skip(message)


class S3Server:
    """`weed server -s3` on loopback; `endpoint` is its S3 URL, `client()` a boto3 client for it."""

    def __init__(self, binary: Path, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "tokenmill", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS))))
        self.endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        args = [str(binary), "server", f"-dir={workdir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-filer", "-s3",
                f"-s3.config={config}", "-volume.max=2", "-master.volumeSizeLimitMB=64", "-volume.preStopSeconds=0",
                *(f"-{flag}={port}" for flag, port in ports.items())]
        self.log = workdir / "weed.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION)

    def wait_ready(self, timeout: float = 60) -> None:
        """Until a bucket can be listed (the S3 gateway answers before the filer is ready)."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                self.client().list_buckets()
                return
            except Exception as err:   # connection refused, or the gateway's 503 while the filer starts
                last = err
                time.sleep(0.5)
        self.stop()
        raise AssertionError(f"weed server not ready ({last}); log tail:\n{self.log.read_text()[-3000:]}")

    def upload(self, local: Path, bucket: str, prefix: str) -> None:
        client = self.client()
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(local).as_posix()}")

    def stop(self) -> None:
        # SIGTERM first; weed's graceful stop takes about 15 s (measured, even with no pre-stop
        # delay), and the data is a tmp directory's, so a kill after 3 s loses nothing.
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

"""`tokenmill inspect` on real runs: a document's path, its duplicate cluster, samples by reason.

The input is a real Common Crawl excerpt plus a small WARC written here with pages whose fate is
known: one page and its exact copy at another URL (one survives exact dedup), and a short page
that the quality stage drops. Both carry an email address. The first run has PII scrubbing off,
so the run's own rejects hold the raw address and only inspect's scrubbing keeps it off the
terminal; the second run keeps no rejected documents, so inspect must say what it can still answer.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server, weed_binary

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
REAL_WARC = REPO / "samples" / "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz"
EMAIL, OTHER_EMAIL = "jane.doe@example.com", "bob.smith@example.org"
ARTICLE = (
    "The river town held its autumn market on the old stone bridge, as it has done for more than two "
    "hundred years. Farmers from the valley brought apples, pears and late plums, and the bakers sold "
    "bread that was still warm from the ovens behind the church.\n"
    "Visitors who came by train walked up from the station through narrow lanes lined with small "
    "houses. Many of them stopped at the museum, which tells the story of the mills that once stood "
    "along the water and gave work to most families in the district.\n"
    "In the evening a brass band played in the square while children ran between the stalls. The "
    f"organisers thanked everyone who helped and asked for ideas for next year at {EMAIL}.\n")
SHORT = f"Write to {OTHER_EMAIL} for the price list."
KEPT_URL, COPY_URL, SHORT_URL = "http://town.example/market", "http://mirror.example/market", "http://town.example/short"


def _response(uri: str, text: str) -> bytes:
    paragraphs = "".join(f"<p>{line}</p>" for line in text.splitlines())
    body = f"<!doctype html><html><head><title>Market</title></head><body><article>{paragraphs}</article></body></html>"
    payload = body.encode("utf-8")
    http = f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len(payload)}\r\n\r\n"
    block = http.encode() + payload
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
            f"WARC-Date: 2024-05-01T12:00:00Z\r\nWARC-Target-URI: {uri}\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n")
    return gzip.compress(head.encode() + block + b"\r\n\r\n")


def _run(inputs: list[Path], out: Path, *overrides: str) -> Path:
    args = [sys.executable, "-m", "tokenmill.pipelines.cli", "run", "--input", *map(str, inputs),
            "--output", str(out), "--config", "tiny"]
    for override in overrides:
        args += ["--set", override]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def inspect(out: Path | str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tokenmill.pipelines.cli", "inspect", str(out), *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


@pytest.fixture(scope="module")
def warc(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("warc") / "market.warc.gz"
    path.write_bytes(_response(KEPT_URL, ARTICLE) + _response(COPY_URL, ARTICLE) + _response(SHORT_URL, SHORT))
    return path


@pytest.fixture(scope="module")
def run_unscrubbed(tmp_path_factory, warc) -> Path:
    return _run([warc, REAL_WARC], tmp_path_factory.mktemp("inspect") / "out", "pii.enabled=false")


@pytest.fixture(scope="module")
def run_without_rejects(tmp_path_factory, warc) -> Path:
    return _run([warc, REAL_WARC], tmp_path_factory.mktemp("inspect") / "out", "output.keep_rejected=false")


def _survivor_and_copy(out: Path) -> tuple[dict, dict]:
    kept = [r for r in pq.read_table(out / "docs").to_pylist() if r["url"] in (KEPT_URL, COPY_URL)]
    dropped = [r for r in pq.read_table(out / "rejected" / "exact_dedup").to_pylist()
               if r["url"] in (KEPT_URL, COPY_URL)]
    assert len(kept) == 1 and len(dropped) == 1 and dropped[0]["reason"] == "exact_duplicate"
    return kept[0], dropped[0]


def test_a_dropped_duplicate_shows_its_path_and_survivor(run_unscrubbed):
    survivor, copy = _survivor_and_copy(run_unscrubbed)
    done = inspect(run_unscrubbed, "--url", copy["url"])
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "dropped at exact_dedup: exact_duplicate" in out
    assert "read ok > extract ok > url ok > language ok > quality ok > exact_dedup DROPPED (exact_duplicate)" in out
    assert out.count("not reached: near_dedup, toxicity\n") == 1   # pii is off in this run: no such stage
    assert f"survivor: {survivor['id']} {survivor['url']}, kept in docs/ (cluster of 2)" in out
    assert "signals when dropped: lang en" in out


def test_the_survivor_lists_its_cluster(run_unscrubbed):
    survivor, copy = _survivor_and_copy(run_unscrubbed)
    done = inspect(run_unscrubbed, "--id", survivor["id"])
    assert done.returncode == 0, done.stderr
    assert "kept: written to docs/" in done.stdout
    assert "duplicate cluster: the survivor of 2 input documents" in done.stdout
    assert f"exact_dedup: exact_duplicate: {copy['id']} {copy['url']}" in done.stdout


def test_pii_is_never_shown_even_when_the_run_kept_it(run_unscrubbed):
    rejected = pq.read_table(run_unscrubbed / "rejected").to_pylist()
    short = [r for r in rejected if r["url"] == SHORT_URL]
    assert short and OTHER_EMAIL in short[0]["text"]   # the run itself did not scrub (pii.enabled=false)
    shown = []
    for args in (["--url", SHORT_URL], ["--reason", short[0]["reason"], "-n", "50"], ["--url", KEPT_URL]):
        done = inspect(run_unscrubbed, *args)
        assert done.returncode == 0, done.stderr
        assert EMAIL not in done.stdout and OTHER_EMAIL not in done.stdout
        shown.append(done.stdout)
    assert "Write to <EMAIL_ADDRESS> for the price list." in shown[0] and "<EMAIL_ADDRESS>" in shown[1]


def test_by_reason_shows_n_documents_with_that_reason(run_unscrubbed):
    report_reason = "gopher_too_few_words"   # the short page and a few of the real excerpt's
    dropped = [r for r in pq.read_table(run_unscrubbed / "rejected" / "quality").to_pylist()
               if r["reason"] == report_reason]
    assert len(dropped) >= 3
    done = inspect(run_unscrubbed, "--reason", report_reason, "-n", "2")
    assert done.returncode == 0, done.stderr
    assert f"{report_reason}: {len(dropped):,} documents dropped (quality {len(dropped):,}); 2 shown" in done.stdout
    assert done.stdout.count(f"dropped at quality: {report_reason}") == 2
    assert done.stdout == inspect(run_unscrubbed, "--reason", report_reason, "-n", "2").stdout   # a stable sample


def test_unknown_url_and_reason_say_so(run_unscrubbed):
    done = inspect(run_unscrubbed, "--url", "http://nowhere.example/")
    assert done.returncode == 1 and "Not found in docs/, rejected/ or errors/" in done.stdout
    done = inspect(run_unscrubbed, "--reason", "no_such_reason")
    assert done.returncode == 1 and "exact_duplicate" in done.stdout   # lists the run's reasons


def test_without_rejects_it_says_what_can_still_be_answered(run_without_rejects):
    assert not (run_without_rejects / "rejected").exists()
    done = inspect(run_without_rejects, "--reason", "exact_duplicate")
    assert done.returncode == 0, done.stderr
    assert "did not keep rejected documents" in done.stdout
    assert "one of the report's samples" in done.stdout   # the one exact duplicate is among the samples
    assert "survivor:" in done.stdout and "kept in docs/" in done.stdout
    done = inspect(run_without_rejects, "--url", "http://nowhere.example/")
    assert done.returncode == 1 and "whether a document was kept (docs/)" in done.stdout


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A real S3-compatible server (SeaweedFS) for this module, stopped at its end."""
    server = S3Server(weed_binary(), tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_a_run_on_s3_reads_the_same_as_on_disk(s3, run_unscrubbed, tmp_path):
    s3.client().create_bucket(Bucket="runs")
    s3.upload(run_unscrubbed, "runs", "market")
    remote = "s3://runs/market"
    survivor, copy = _survivor_and_copy(run_unscrubbed)
    # No stray ~/.aws settings; credentials from the environment (kept out of `ps`), endpoint by flag.
    env = {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    flags = [f"--s3_endpoint_url={s3.endpoint}", "--s3_region_name", REGION]
    for args, shown in ((["--url", copy["url"]], f"survivor: {survivor['id']}"),
                        (["--reason", "gopher_too_few_words", "-n", "2"], "dropped at quality")):
        local, done = inspect(run_unscrubbed, *args), inspect(remote, *args, *flags, env=env)
        assert done.returncode == local.returncode == 0, done.stderr[-3000:]
        assert done.stdout == local.stdout.replace(str(run_unscrubbed), remote) and shown in done.stdout
    # Without flags, boto3's own environment names the endpoint and region.
    local = inspect(run_unscrubbed, "--id", survivor["id"])
    done = inspect(remote, "--id", survivor["id"], env={**env, "AWS_ENDPOINT_URL": s3.endpoint, "AWS_REGION": REGION})
    assert done.returncode == 0 and done.stdout == local.stdout.replace(str(run_unscrubbed), remote), done.stderr
    assert "duplicate cluster: the survivor of 2 input documents" in done.stdout
    # Wrong credentials: one line, no traceback.
    done = inspect(remote, "--id", survivor["id"], *flags, env={**env, "AWS_SECRET_ACCESS_KEY": "wrong"})
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "cannot read s3://runs/market/" in done.stderr, \
        done.stderr


@pytest.mark.parametrize("args, message", [
    (["inspect", "/nonexistent-run", "--url", "http://a.example/"], "no report/report.json or stats/"),
    (["inspect", "/nonexistent-run"], "one of the arguments --url --id --reason is required"),
    (["inspect", "/nonexistent-run", "--id", "x", "--url", "http://a.example/"], "not allowed with argument"),
])
def test_inspect_usage_errors_are_one_line(args, message):
    done = subprocess.run([sys.executable, "-m", "tokenmill.pipelines.cli", *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr

"""End to end: `tokenmill run` on real WARC files, damaged files, and two runner modes.

These runs check the backbone (reading, extraction, accounting, outputs), so most switch the
filter stages off; the whole recipe runs in tests/e2e/
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tokenmill.pipelines.report import invariant_problems, load_report
from tokenmill.transforms.schemas import DOC_SCHEMA

from testdata import REAL_WARCS, run_cli, warc

pytestmark = pytest.mark.e2e
NO_FILTERS = ("--set", "filters.order=[]", "--set", "tokenize.enabled=false")


def docs_of(out: Path) -> dict[str, str]:
    table = pq.read_table(out / "docs")
    return dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))


def errors_of(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((out / "errors").glob("*.jsonl")) for line in f.read_text().splitlines()]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("real") / "out"
    result = run_cli("run", "--input", *map(str, REAL_WARCS), "--output", str(out), "--config", "tiny",
                     *NO_FILTERS)
    assert result.returncode == 0, result.stderr
    return out


def test_every_real_warc_is_read_and_accounted(real_run):
    report = load_report(str(real_run))
    assert invariant_problems(report) == []
    # 420 + 48 + 34 + 50 + 4 + 2 records in the six files (an independent FastWARC count).
    assert (report["input"]["files"], report["input"]["records"]) == (6, 558)
    assert report["input"]["bytes"] == sum(p.stat().st_size for p in REAL_WARCS)
    read = report["stages"][0]
    assert read["name"] == "read" and read["errors"] == {}
    # request/metadata/warcinfo records are no pages: counted apart, not dropped by the read stage;
    # the pages are the 156 + 22 + 15 + 16 + 1 responses and the one WET conversion
    assert report["input"]["pages"] == 210 + 1 and report["input"]["other_records"] == 558 - 210 - 1
    assert "not_response" not in read["dropped"]
    assert read["dropped"]["not_html"] > 80      # 94: images, dns:, robots.txt, ... of the 2008 crawl
    assert report["output"]["documents"] > 90   # 96
    assert (real_run / "config.resolved.yaml").read_text().startswith("# tokenmill resolved config")
    assert (real_run / "report" / "index.html").exists()


def test_docs_have_the_contract_schema_and_real_text(real_run):
    table = pq.read_table(real_run / "docs")
    assert table.schema.names == DOC_SCHEMA.names
    texts = table.column("text").to_pylist()
    assert all(t.strip() for t in texts)
    assert any("Wikipedia" in t or "Aragon" in t for t in texts)   # the WET record passes through


def write_damaged_inputs(folder: Path) -> None:
    good = warc("dolma__crawl-2024_sample-0000.warc.gz").read_bytes()
    (folder / "truncated.warc.gz").write_bytes(good[: len(good) // 2])
    raw = gzip.decompress(good)
    at = raw.find(b"WARC/1.", 40_000)
    (folder / "malformed.warc").write_bytes(raw[:at] + b"WARC/1.0\r\nBroken-Header-Without-Colon\r\n\r\n" + raw[at:])
    (folder / "junk.warc.gz").write_bytes(bytes(range(256)) * 50)
    binary_page = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + bytes(range(256)) * 8)
    empty_page = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    records = b""
    for i, block in enumerate([binary_page, empty_page]):
        records += (f"WARC/1.1\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:0000000{i}>\r\n"
                    f"WARC-Target-URI: http://bad.example/{i}\r\nContent-Type: application/http; msgtype=response\r\n"
                    f"Content-Length: {len(block)}\r\n\r\n").encode() + block + b"\r\n\r\n"
    (folder / "odd.warc").write_bytes(records)
    (folder / "rows.jsonl").write_text('{"text": "a fine row of text"}\n{broken json\n{"id": 3}\n')


def test_damaged_inputs_are_counted_and_the_job_goes_on(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_damaged_inputs(inputs)
    out = tmp_path / "out"
    result = run_cli("run", "--input", str(inputs / "*"), "--output", str(out), "--config", "tiny", *NO_FILTERS)
    assert result.returncode == 0, result.stderr
    report = load_report(str(out))
    assert invariant_problems(report) == []
    read, extract = report["stages"][0], report["stages"][1]
    assert read["errors"] == {"truncated": 1, "malformed_record": 3, "missing_text": 1}
    assert read["dropped"]["empty_body"] == 1
    assert extract["errors"] == {"binary_payload": 1}
    kinds = sorted((e["stage"], e["kind"], Path(e["source"]).name) for e in errors_of(out))
    assert ("read", "truncated", "truncated.warc.gz") in kinds
    assert ("extract", "binary_payload", "odd.warc") in kinds
    assert ("read", "missing_text", "rows.jsonl") in kinds
    assert len(kinds) == sum(read["errors"].values()) + sum(extract["errors"].values())
    assert "a fine row of text" in docs_of(out).values()


def test_same_docs_in_memory_and_with_two_processes(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("dolma__crawl-2024_sample-0000.warc.gz", "dolma__crawl-2024_sample-0001.warc.gz",
                 "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz"):
        shutil.copy(warc(name), inputs / name)
    outs = {}
    for mode, extra in (("in_memory", []), ("multi_processing", ["--direct_num_workers=2"])):
        outs[mode] = tmp_path / mode
        result = run_cli("run", "--input", str(inputs / "*.gz"), "--output", str(outs[mode]), "--config", "tiny",
                         f"--direct_running_mode={mode}", *extra)
        assert result.returncode == 0, result.stderr
    a, b = docs_of(outs["in_memory"]), docs_of(outs["multi_processing"])
    assert len(a) > 20 and a == b   # the tiny recipe with its filters: about 30 of 53 pages kept
    ra, rb = load_report(str(outs["in_memory"])), load_report(str(outs["multi_processing"]))
    strip = lambda r: [(s["name"], s["seen"], s["kept"], s["dropped"], s["errors"], s["samples"]) for s in r["stages"]]
    assert strip(ra) == strip(rb)

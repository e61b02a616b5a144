"""Paths handed to workers: local ones absolute (workers have their own working directory), URLs as typed."""

from __future__ import annotations

import os

import pytest

from tokenmill.pipelines.run import absolute_path
from tokenmill.transforms.beam.read import expand_pattern
from tokenmill.transforms.readers import InputConfig


@pytest.mark.parametrize("path, expected", [
    ("data/*.warc.gz", os.path.join(os.getcwd(), "data/*.warc.gz")),
    ("../x/out", os.path.normpath(os.path.join(os.getcwd(), "../x/out"))),
    ("/abs/out", "/abs/out"),
    ("gs://bucket/crawl/*.warc.gz", "gs://bucket/crawl/*.warc.gz"),
    ("s3://commoncrawl/crawl-data/CC-MAIN-2024-22/warc.paths.gz", "s3://commoncrawl/crawl-data/CC-MAIN-2024-22/warc.paths.gz"),
])
def test_absolute_path(path, expected):
    assert absolute_path(path) == expected


def test_expand_pattern_fails_when_a_worker_sees_no_input(tmp_path):
    # On a worker that cannot see the launcher's files, reading nothing must fail the job,
    # not end in a successful run that reports 0 records.
    with pytest.raises(FileNotFoundError, match="matches nothing on this worker"):
        list(expand_pattern(str(tmp_path / "*.warc.gz"), InputConfig()))


def test_expand_pattern_lists_a_glob(tmp_path):
    for name in ("b.warc.gz", "a.warc.gz"):
        (tmp_path / name).write_bytes(b"")
    assert sorted(expand_pattern(str(tmp_path / "*.warc.gz"), InputConfig())) == \
        [str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz")]

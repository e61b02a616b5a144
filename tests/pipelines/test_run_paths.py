"""Paths handed to workers: local ones absolute (workers have their own working directory), URLs as typed."""

from __future__ import annotations

import os

import pytest

from tokenmill.pipelines.run import absolute_path


@pytest.mark.parametrize("path, expected", [
    ("data/*.warc.gz", os.path.join(os.getcwd(), "data/*.warc.gz")),
    ("../x/out", os.path.normpath(os.path.join(os.getcwd(), "../x/out"))),
    ("/abs/out", "/abs/out"),
    ("gs://bucket/crawl/*.warc.gz", "gs://bucket/crawl/*.warc.gz"),
    ("s3://commoncrawl/crawl-data/CC-MAIN-2024-22/warc.paths.gz", "s3://commoncrawl/crawl-data/CC-MAIN-2024-22/warc.paths.gz"),
])
def test_absolute_path(path, expected):
    assert absolute_path(path) == expected


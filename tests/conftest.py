"""Pytest fixtures shared by all test folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from testdata import SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"the real test data is expected at {SHARED_DATA}"
    return SHARED_DATA

"""No code reaches for a data folder beside the checkout: `.ci/run` proves it by running the tests
from a copy with nothing beside it; this catches a new path in a bench or script, which no test runs."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIBLING_DATA = re.compile(r"""\.\./shared|["']shared["']|/work/shared|shared/data""")


def test_no_code_path_assumes_a_sibling_shared_folder():
    files = [p for folder in ("bench", "scripts", "tests", "pipelines", "transforms", "model", ".ci")
             for p in sorted((REPO / folder).rglob("*")) if p.suffix in (".py", ".sh", "") and p.is_file()
             and "__pycache__" not in p.parts and "data" not in p.relative_to(REPO).parts[1:2]]
    assert len(files) > 50
    found = [f"{p.relative_to(REPO)}:{n}" for p in files if p != Path(__file__).resolve()
             for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if SIBLING_DATA.search(line)]
    assert found == []

"""The trainer imports the shard schema (and the config machinery) of the pipeline, nothing else."""

from __future__ import annotations

import subprocess
import sys


def test_the_model_package_imports_only_the_shard_schema_of_the_pipeline():
    code = ("import sys, tokenmill.model.train, tokenmill.model.sample; "
            "print(sorted(m for m in sys.modules if m.startswith(('tokenmill.', 'apache_beam'))))")
    loaded = eval(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    outside = [m for m in loaded if not m.startswith("tokenmill.model")]
    assert outside == ["tokenmill.transforms", "tokenmill.transforms.token_shards", "tokenmill.transforms.typed_config"]

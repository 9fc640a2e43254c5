"""Slow end-to-end checks on real data from ../shared (skipped where it is absent)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NMT_SHARED", ROOT.parent / "shared"))


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "data" / "multi30k").is_dir(), reason="../shared/data/multi30k is absent")
def test_check_pipeline_on_multi30k_subset():
    """The shared interface check: 90 s of training on 3k Multi30k pairs, every CLI flag scripts rely on."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert shutil.which("nmt", path=env["PATH"]), "nmt is not installed beside this Python"
    result = subprocess.run(["bash", str(SHARED / "tools" / "check-pipeline.sh")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pipeline holds" in result.stdout

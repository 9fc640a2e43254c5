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


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "data" / "multi30k").is_dir(), reason="../shared/data/multi30k is absent")
def test_preprocess_multi30k_joint_bpe_8k_writes_its_statistics(tmp_path):
    """The whole of Multi30k de-en through `nmt preprocess` (joint BPE 8k): stats.json accounts for every line."""
    import json

    from nmt.config import load_config
    from nmt.data.corpus import read_lines
    from nmt.data.preprocess import preprocess

    data = SHARED / "data" / "multi30k"
    cfg = load_config(ROOT / "configs" / "multi30k_de_en_transformer.yaml", [f"data.dir={data}"])
    info = preprocess(cfg, tmp_path / "run", log=lambda line: None)
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    train, valid = stats["train"], stats["valid"]
    assert train["pairs"] + sum(train["dropped"].values()) == len(read_lines(data / "train.de"))
    assert valid["pairs"] == len(read_lines(data / "val.de"))
    assert info["src_vocab"] == info["tgt_vocab"] == 8000
    for side in ("src", "tgt"):
        assert train[side]["sentences"] == train["pairs"]
        assert train[side]["unknown_rate"] == 0  # byte fallback spells every character
        assert 1 < train[side]["subwords_per_word"] < 2  # 8k pieces cover most words of this corpus whole
        assert train[side]["tokens_per_sentence"]["p95"] <= train[side]["tokens_per_sentence"]["max"]

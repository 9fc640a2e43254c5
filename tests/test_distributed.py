"""Data-parallel training through torchrun: two gloo processes on the CPU against one process."""
import json
import shutil
import subprocess
import sys

import torch

from nmt.train.checkpoint import load_checkpoint

# SGD, not Adam: both sides sum the same gradients in another order (rounding differs in the last bits), and
# Adam's first steps move a weight by about lr * sign(gradient), which turns such a difference in a gradient
# near zero into a full step; SGD keeps it as small as it is
TINY = ["--set", "train.validation.every=3", "--set", "train.validation.size=4", "--set", "model.dropout=0.0",
        "--set", "train.limits.max_steps=3", "--set", "train.log_every=1"]
SGD = ("train.optimizer.type=sgd", "train.optimizer.lr=0.5")


def torchrun(run, *args, processes=2):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "nmt.cli", "train", "--run-dir", run, *args]
    return subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=300)


def test_two_ranks_make_the_update_of_one_process_with_the_combined_batch(toy_corpus, run_dir, tmp_path, run_cli):
    from conftest import tiny_config
    from nmt.config import dump_yaml

    config = tmp_path / "tiny.yaml"
    config.write_text(dump_yaml(tiny_config(toy_corpus, *SGD)), encoding="utf-8")
    two, one = (shutil.copytree(run_dir, tmp_path / name) for name in ("two", "one"))
    result = torchrun(two, "--config", config, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    single = run_cli("train", "--config", config, "--run-dir", one, *TINY, "--set", "train.accumulate=2")
    assert single.returncode == 0, single.stderr[-3000:]
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (two, one))
    assert a["step"] == b["step"] == 3 and a["sampler"] == b["sampler"]
    for name in a["model"]:
        torch.testing.assert_close(a["model"][name], b["model"][name], rtol=1e-4, atol=1e-5)

    # rank 0 alone wrote files: one TensorBoard event file, each step logged once
    assert len(list((two / "tensorboard").glob("events.*"))) == 1
    events = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["event"] == "train"] == [1, 2, 3]
    assert [e["step"] for e in events if e["event"] == "valid"] == [3]

    # a 2-rank run resumes on one process
    resumed = run_cli("train", "--run-dir", two, "--resume", "--set", "train.limits.max_steps=5")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert load_checkpoint(two / "checkpoints" / "last.pt")["step"] == 5

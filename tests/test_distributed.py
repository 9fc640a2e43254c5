"""Data-parallel training through torchrun: two gloo processes on the CPU against one process, and the
choices the NCCL path makes on GPUs."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from nmt.errors import NmtError
from nmt.sweep.grid import side_by_side
from nmt.train import distributed
from nmt.train.checkpoint import load_checkpoint
from nmt.train.distributed import Ranks

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
    from nmt.schema import dump_yaml

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


def assert_same_weights(a, b, exact=False):
    for name in a["model"]:
        if exact:
            assert torch.equal(a["model"][name], b["model"][name]), name
        else:
            torch.testing.assert_close(a["model"][name], b["model"][name], rtol=1e-4, atol=1e-5, msg=name)


def test_a_last_update_with_fewer_batches_than_ranks_equals_one_process(toy_corpus, run_dir, tmp_path, run_cli):
    """max_epochs ends an epoch of an odd number of batches: the last update has one batch, so rank 1 has
    none and joins rank 0's gradient exchange with zeros; the run still equals one process, accumulate 2."""
    from conftest import tiny_config
    from nmt.schema import dump_yaml
    from nmt.train.loop import Trainer

    two, one = (shutil.copytree(run_dir, tmp_path / name) for name in ("two", "one"))
    for tokens in range(300, 400, 10):  # a batch budget that makes an odd number of batches
        cfg = tiny_config(toy_corpus, *SGD, f"train.batch_tokens={tokens}", "train.limits.max_epochs=1",
                          "model.dropout=0.0")
        batches = len(Trainer(cfg, one).sampler.batches_of_epoch(0))
        if batches % 2:
            break
    config = tmp_path / "tiny.yaml"
    config.write_text(dump_yaml(cfg), encoding="utf-8")
    assert torchrun(two, "--config", config).returncode == 0
    assert run_cli("train", "--config", config, "--run-dir", one, "--set", "train.accumulate=2").returncode == 0
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (two, one))
    assert a["step"] == b["step"] == (batches + 1) // 2
    assert_same_weights(a, b)


def test_a_resumed_two_rank_run_continues_exactly(toy_corpus, run_dir, tmp_path):
    """Dropout on: each rank's draws are a function of the step, so stopping at step 2 and resuming on two
    ranks ends bit for bit where the uninterrupted run ends."""
    settings = ["--set", "train.validation.every=2", "--set", "train.validation.size=4"]
    straight, split = (shutil.copytree(run_dir, tmp_path / name) for name in ("straight", "split"))
    from conftest import tiny_config
    from nmt.schema import dump_yaml

    config = tmp_path / "tiny.yaml"
    config.write_text(dump_yaml(tiny_config(toy_corpus)), encoding="utf-8")
    for run, steps in ((straight, 4), (split, 2)):
        result = torchrun(run, "--config", config, *settings, "--set", f"train.limits.max_steps={steps}")
        assert result.returncode == 0, result.stderr[-3000:]
    result = torchrun(split, "--resume", "--set", "train.limits.max_steps=4")
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (straight, split))
    assert a["step"] == b["step"] == 4 and a["sampler"] == b["sampler"]
    assert_same_weights(a, b, exact=True)


@pytest.mark.parametrize("mode", ["off", "per_step"])
def test_two_ranks_train_the_rnn_with_and_without_scheduled_sampling(toy_corpus, run_dir, tmp_path, mode):
    """Scheduled sampling's passes run inside the wrapped loss, so the ranks' gradient exchange sees them;
    each way of training uses every parameter of the model once an update, as the exchange needs."""
    from conftest import tiny_config
    from nmt.schema import dump_yaml

    sampling = [] if mode == "off" else ["train.scheduled_sampling.enabled=true", f"train.scheduled_sampling.mode={mode}"]
    config = tmp_path / "tiny.yaml"
    config.write_text(dump_yaml(tiny_config(toy_corpus, *sampling, family="rnn")), encoding="utf-8")
    run = shutil.copytree(run_dir, tmp_path / "run")
    result = torchrun(run, "--config", config, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 3


# --- the NCCL path's choices, without a GPU ----------------------------------------------------------

def test_each_rank_takes_its_own_gpu_and_the_group_a_backend_per_device(monkeypatch):
    """Under torchrun on GPUs, local rank 1 makes cuda:1 its current device before the process group starts,
    and the group runs CUDA tensors through NCCL and CPU tensors through gloo; the sums and broadcasts
    of Python numbers are CPU tensors, so gloo carries them."""
    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set_device", device)))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: calls.append(("process group", backend)))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    ranks = Ranks.from_environment("auto")
    assert calls == [("set_device", "cuda:1"), ("process group", "cpu:gloo,cuda:nccl")]
    assert (ranks.rank, ranks.world, ranks.device_name("auto"), ranks.device_name("cpu")) == (1, 2, "cuda:1", "cpu")

    devices = []
    monkeypatch.setattr(dist, "all_reduce", lambda tensor: devices.append(tensor.device))
    monkeypatch.setattr(dist, "broadcast_object_list", lambda box, src, device: devices.append(device))
    ranks.sum(3), ranks.any(False), ranks.share("scores")
    assert devices == [torch.device("cpu")] * 3


def test_ranks_on_cpus_use_gloo_and_one_named_gpu_is_refused_for_several_ranks():
    no_gpu = distributed.rank_device("auto", 1, 2, cuda_available=False)
    assert distributed.backend_for(no_gpu) == distributed.backend_for("cpu") == "gloo"
    assert distributed.rank_device("cuda:0", 0, 1, cuda_available=True) == "cuda:0"  # one process: as configured
    with pytest.raises(NmtError, match="names one GPU"):
        distributed.rank_device("cuda:0", 1, 2, cuda_available=True)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")
def test_threads_count_the_cores_this_process_may_run_on_not_the_machines():
    # `taskset -c 0 nmt train` or a batch scheduler's cpuset: one thread, however many cores the machine has
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        assert Ranks().threads(0) == 1 and side_by_side(2)[0] == "train.compute.threads=1"
        assert Ranks().threads(3) == 3  # a configured number is kept
    finally:
        os.sched_setaffinity(0, cores)

"""Kept update checkpoints and `nmt average`."""
import json

import pytest
import torch

from conftest import tiny_config
from nmt.export import load_model
from nmt.rundir import RunDir
from nmt.train.average import average_run, average_state_dicts, choose_steps
from nmt.train.checkpoint import load_checkpoint
from nmt.train.loop import Trainer


def test_averaging_two_state_dicts_is_the_mean_of_their_tensors():
    a = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([[0.5]], dtype=torch.bfloat16), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "b": torch.tensor([[1.5]], dtype=torch.bfloat16), "n": torch.tensor(5)}
    mean = average_state_dicts([a, b])
    assert torch.equal(mean["w"], torch.tensor([2.0, 4.0]))
    assert mean["b"].dtype == torch.bfloat16 and mean["b"].item() == 1.0
    assert mean["n"].item() == 5  # an integer buffer (a counter) is the newest, not a mean


@pytest.fixture(scope="module")
def kept_run(toy_corpus, run_dir, tmp_path_factory):
    import shutil

    root = tmp_path_factory.mktemp("kept") / "run"
    shutil.copytree(run_dir, root)
    Trainer(tiny_config(toy_corpus, "train.limits.max_steps=8", "train.validation.every=2", "train.validation.size=4",
                        "train.keep_checkpoints=3"), root).run()
    return root


def test_only_the_newest_checkpoints_are_kept(kept_run):
    kept = sorted(p.name for p in (kept_run / "checkpoints").iterdir())
    assert kept == ["last.pt", "step4.pt", "step6.pt", "step8.pt"]
    assert torch.equal(load_checkpoint(kept_run / "checkpoints" / "step8.pt")["model"]["decoder_norm.weight"],
                       load_checkpoint(kept_run / "checkpoints" / "last.pt")["model"]["decoder_norm.weight"])


def test_average_of_the_last_two_is_a_model_directory_with_their_mean(kept_run, tmp_path):
    steps = average_run(kept_run, tmp_path / "avg", last=2)
    assert steps == [6, 8]
    model, _, _ = load_model(tmp_path / "avg")
    six, eight = (load_checkpoint(kept_run / "checkpoints" / f"step{s}.pt")["model"] for s in (6, 8))
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, (six[name] + eight[name]) / 2, rtol=0, atol=1e-7)


def test_the_best_checkpoints_can_be_those_with_the_best_chrf(kept_run):
    """(This tiny run's dev BLEU is 0 at every kept step; its chrF tells them apart.)"""
    events = [json.loads(line) for line in (kept_run / "metrics.jsonl").read_text().splitlines()]
    chrf = {e["step"]: e["chrf"] for e in events if e["event"] == "valid" and e["step"] in (4, 6, 8)}
    chosen = choose_steps(RunDir(kept_run), best=2, metric="chrf")
    assert len(chosen) == 2 and min(chrf[s] for s in chosen) > max(chrf[s] for s in chrf if s not in chosen)


def test_cli_average_best_and_too_many_asked(kept_run, tmp_path, run_cli):
    result = run_cli("average", "--run-dir", kept_run, "--best", "2", "--out", tmp_path / "best2")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "best2" / "model.safetensors").is_file()
    result = run_cli("average", "--run-dir", kept_run, "--last", "5", "--out", tmp_path / "x")
    assert result.returncode == 2 and "5 checkpoints asked for, 3 kept (steps 4, 6, 8)" in result.stderr
    assert "Traceback" not in result.stderr

"""A run left alone: non-finite updates, SIGTERM, a second trainer on the same folder, a file-size limit."""
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from nmt.errors import NmtError
from nmt.export import load_model
from nmt.schema import dump_yaml
from nmt.train.checkpoint import load_checkpoint
from nmt.train.loop import Trainer

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONIOENCODING="utf-8")


def poison(trainer, bad_steps):
    """Make the model's decoder output NaN at the given update steps."""
    decoder_states = trainer.model.decoder_states

    def maybe_nan(src, tgt_in):
        states = decoder_states(src, tgt_in)
        return states * float("nan") if trainer.step in bad_steps else states

    trainer.model.decoder_states = maybe_nan


def events(run, kind):
    lines = (Path(run) / "metrics.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == kind]


def test_a_non_finite_update_is_skipped_and_counted(fresh_run_dir, toy_corpus):
    trainer = Trainer(tiny_config(toy_corpus, "train.limits.max_steps=6", "train.validation.size=4"), fresh_run_dir)
    poison(trainer, {3})
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.run()
    assert trainer.step == 6 and trainer.nonfinite_skipped == 1
    assert [e["step"] for e in events(fresh_run_dir, "nonfinite")] == [3]
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters())


def test_too_many_in_a_row_stop_the_run_with_the_last_good_checkpoint(fresh_run_dir, toy_corpus):
    trainer = Trainer(tiny_config(toy_corpus, "train.limits.max_steps=20", "train.validation.every=2",
                                  "train.validation.size=4", "train.max_nonfinite=3"), fresh_run_dir)
    poison(trainer, set(range(5, 21)))
    with pytest.raises(NmtError, match="step 7: 3 updates in a row had a non-finite loss or gradient"):
        trainer.run()
    state = load_checkpoint(fresh_run_dir / "checkpoints" / "last.pt")
    assert state["step"] == 6  # validated after two skips: still the weights of step 4, which were finite
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


# --- through the command line ----------------------------------------------------------------------

@pytest.fixture
def config(tiny_cfg, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(dump_yaml(tiny_cfg), encoding="utf-8")
    return path


def launch(*args, preexec_fn=None):
    return subprocess.Popen([sys.executable, "-m", "nmt.cli", "train", *map(str, args)], env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec_fn)


def wait_for_step(run, step, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        metrics = Path(run) / "metrics.jsonl"
        if metrics.exists() and any(e["step"] >= step for e in map(json.loads, metrics.read_text().splitlines())):
            return
        time.sleep(0.05)
    raise AssertionError(f"the trainer did not reach step {step}: {proc.communicate()[1][-2000:]}")


def one_line(proc):
    _, err = proc.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


SUBWORD_SAMPLING = ["tokenizer.sampling=0.1", "train.batch_tokens=4000"]


# with subword sampling, 7 batches an epoch: the resumed process re-creates the segmentation of the epoch
# it stopped in, and of epoch 1 as the uninterrupted process drew it. The signal goes to the whole process
# group, helper processes included (the epoch segmenter; loader workers, in the stopped run only), as Slurm
# sends SIGTERM and a terminal Ctrl-C's SIGINT.
@pytest.mark.parametrize("settings,stopped_settings,stop",
                         [([], [], signal.SIGTERM), (SUBWORD_SAMPLING, [], signal.SIGTERM),
                          (SUBWORD_SAMPLING, [], signal.SIGINT), ([], ["train.compute.loader_workers=2"], signal.SIGTERM)],
                         ids=["plain", "subword_sampling", "subword_sampling_ctrl_c", "loader_workers"])
def test_a_stop_signal_saves_the_update_and_resume_continues_exactly(config, run_dir, tmp_path, settings,
                                                                     stopped_settings, stop):
    straight, stopped = (shutil.copytree(run_dir, tmp_path / name) for name in ("straight", "stopped"))
    common = ["--config", config, "--set", "train.log_every=1", "--set", "train.validation.size=4",
              *(arg for setting in settings for arg in ("--set", setting))]
    subprocess.run([sys.executable, "-m", "nmt.cli", "train", "--run-dir", straight, *common,
                    "--set", "train.limits.max_steps=12"], env=ENV, check=True, capture_output=True)
    common += [arg for setting in stopped_settings for arg in ("--set", setting)]
    proc = launch("--run-dir", stopped, *common, "--set", "train.limits.max_steps=100000", preexec_fn=os.setsid)
    wait_for_step(stopped, 3, proc)
    os.killpg(proc.pid, stop)
    message = one_line(proc)
    step = load_checkpoint(stopped / "checkpoints" / "last.pt")["step"]
    assert f"stopped by {stop.name} after step {step}, saved in" in message and "--resume" in message
    assert 3 <= step < 12
    subprocess.run([sys.executable, "-m", "nmt.cli", "train", "--run-dir", stopped, "--resume", *common,
                    "--set", "train.limits.max_steps=12"], env=ENV, check=True, capture_output=True)
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt")["model"] for run in (straight, stopped))
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_a_held_run_folder_is_refused_and_a_killed_trainers_is_not(config, run_dir, tmp_path):
    run = shutil.copytree(run_dir, tmp_path / "run")
    common = ["--config", config, "--run-dir", run, "--set", "train.log_every=1"]
    first = launch(*common, "--set", "train.limits.max_steps=100000")
    wait_for_step(run, 1, first)
    second = launch(*common, "--set", "train.limits.max_steps=2")
    assert f"{run}: a trainer (pid {first.pid}) is using this run directory" in one_line(second)
    first.send_signal(signal.SIGKILL)
    first.wait()
    third = launch(*common, "--set", "train.limits.max_steps=2")
    _, err = third.communicate(timeout=120)
    assert third.returncode == 0, err


def test_a_file_size_limit_while_exporting_best_is_one_line_and_the_previous_files_stay(config, run_dir, tmp_path):
    """The tiny model's best/ weights are about 47 KiB: a 16 KiB limit (like a full disk) stops their export.
    (tests/test_robustness.py does the same for checkpoints/last.pt.)"""
    run = shutil.copytree(run_dir, tmp_path / "run")
    common = ["--config", config, "--run-dir", run, "--set", "train.validation.size=4"]
    subprocess.run([sys.executable, "-m", "nmt.cli", "train", *common, "--set", "train.limits.max_steps=2"],
                   env=ENV, check=True, capture_output=True)
    before = load_checkpoint(run / "checkpoints" / "last.pt")["model"]

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

    proc = launch(*common, "--set", "train.limits.max_steps=4", preexec_fn=limit_file_size)
    message = one_line(proc)
    assert f"{run / 'best'}: could not write the model (" in message and "File too large" in message
    assert "the previous one, if any, is kept" in message
    load_model(run / "best")
    after = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(before[name], after[name]) for name in before)


# --- seeing a run ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("budget", ["train.limits.max_steps=8", "train.limits.max_time=600",
                                    "train.limits.max_epochs=2"])
def test_progress_is_the_share_of_the_binding_budget(fresh_run_dir, toy_corpus, budget):
    trainer = Trainer(tiny_config(toy_corpus, budget), fresh_run_dir)
    batches = trainer.batches()
    for _ in range(4):
        trainer.draw_update(batches)
        trainer.step += 1
    progress = trainer.progress
    if "max_time" in budget:  # the time since the trainer started, which the next line reads later
        assert 0 < progress <= trainer.elapsed / 600
    else:
        expected = 0.5 if "max_steps" in budget else 4 / len(trainer.sampler.batches_of_epoch(0)) / 2
        assert progress == pytest.approx(expected)


def test_the_bar_shows_the_time_left_of_the_budget(tmp_path):
    import io

    from nmt.train.reporting import Reporter

    bar = io.StringIO()
    reporter = Reporter(tmp_path / "metrics.jsonl", tmp_path / "tb", budgeted=True, progress=0.1, bar_file=bar,
                        show_bar=True)
    for share in (0.2, 0.3, 0.4):
        time.sleep(0.05)
        reporter.step(share, loss="1.0")
    reporter.close()
    last = bar.getvalue().split("\r")[-1]
    assert "40.0% of the budget" in last and "<00:0" in last  # elapsed<remaining: 0.15 s for 30 %, 0.3 s left


def test_sigkill_mid_run_then_resume_ends_bitwise_equal_with_curriculum_and_accumulation(config, run_dir, tmp_path):
    """SIGKILL gives the trainer no chance to save: the resumed run restarts from the last validation's
    checkpoint (step 40), inside the curriculum's second phase, and must still end where a run never
    interrupted ends; its batches were made ahead by loader workers, the uninterrupted run's on demand."""
    straight, killed = (shutil.copytree(run_dir, tmp_path / name) for name in ("straight", "killed"))
    workers = ["--set", "train.compute.loader_workers=2"]  # the killed run's batches are made ahead, in workers
    common = ["--config", config, "--set", "train.log_every=1", "--set", "train.validation.size=4",
              "--set", "train.validation.every=10", "--set", "train.accumulate=2",
              "--set", "train.curriculum.type=phases",
              "--set", "train.curriculum.phases=[{max_tokens: 32, until_fraction: 0.25}, {}]",
              "--set", "train.limits.max_steps=120"]
    subprocess.run([sys.executable, "-m", "nmt.cli", "train", "--run-dir", straight, *common], env=ENV, check=True,
                   capture_output=True)
    proc = launch("--run-dir", killed, *common, *workers)
    wait_for_step(killed, 45, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = load_checkpoint(killed / "checkpoints" / "last.pt")["step"]
    assert 40 <= step < 120, "the kill must land after the phase change and before the end"
    subprocess.run([sys.executable, "-m", "nmt.cli", "train", "--run-dir", killed, "--resume", *common, *workers],
                   env=ENV, check=True, capture_output=True)
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (straight, killed))
    assert a["step"] == b["step"] == 120
    assert all(torch.equal(a["model"][name], b["model"][name]) for name in a["model"])

"""`nmt sweep`: random search in an optuna study. A bad space is refused before any trial runs, a
killed sweep finishes without training a finished trial again, workers sharing one SQLite study never
run the same trial, and the median pruner stops a trial that trails."""
import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest

from nmt.device import cores_each
from nmt.errors import NmtError
from nmt.sweep.study import PruningWatch, read_space
from test_sweep import read_csv, tiny_yaml  # noqa: F401 (a fixture)

SPACE = "train.optimizer.lr: {log_uniform: [1.0e-3, 1.0e-2]}\nmodel.dropout: {uniform: [0.0, 0.3]}\n"


@pytest.fixture
def space(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(SPACE, encoding="utf-8")
    return path


def sweep_args(tiny_yaml, toy_corpus, space, out, *extra):
    return [sys.executable, "-m", "nmt", "sweep", "--config", str(tiny_yaml), "--data-dir", str(toy_corpus),
            "--space", str(space), "--out", str(out), "--max-time", "60", *map(str, extra)]


@pytest.mark.parametrize("text, message", [
    ("train.optimizer.rate: {uniform: [0.1, 0.2]}", "train.optimizer.rate = 0.1: unknown config key "
                                                    "train.optimizer.rate"),
    ("model.dropout: {uniform: [0.1, 1.5]}", "model.dropout = 1.5: config key model.dropout"),
    ("tokenizer.type: {choice: [bpe, morfessor]}", "tokenizer.type = 'morfessor': config key tokenizer.type"),
    ("model.dropout: {uniform: [0.3, 0.1]}", "model.dropout: uniform takes [low, high] with low < high"),
    ("model.dropout: {normal: [0.1, 0.2]}", "model.dropout: expected one of {uniform: ..., log_uniform: ..., "
                                            "int: ..., choice: ...}"),
    ("train.optimizer.lr: {log_uniform: [0, 0.1]}", "log_uniform needs a positive low bound"),
    ("model.dropout: {uniform: [0.1, 0.2], log: true}", "log applies to int"),
])
def test_a_bad_space_is_one_line_before_any_trial_runs(run_cli, toy_corpus, tiny_yaml, tmp_path, text, message):
    path = tmp_path / "space.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    out = tmp_path / "out"
    r = run_cli("sweep", "--config", tiny_yaml, "--data-dir", toy_corpus, "--space", path, "--out", out,
                "--trials", 2, "--max-time", 5)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"nmt sweep: error: {path}: ") and message in r.stderr, r.stderr
    assert not out.exists()


def test_a_space_reads_every_kind_of_dimension(tiny_yaml, tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(SPACE + "tokenizer.vocab_size: {int: [300, 400], log: true}\n"
                            "train.curriculum.type: {choice: [none, phases]}\n", encoding="utf-8")
    dimensions = read_space(path, tiny_yaml, [])
    assert [(d.key, d.kind, d.values, d.log) for d in dimensions] == [
        ("train.optimizer.lr", "log_uniform", (1e-3, 1e-2), False), ("model.dropout", "uniform", (0.0, 0.3), False),
        ("tokenizer.vocab_size", "int", (300, 400), True), ("train.curriculum.type", "choice", ("none", "phases"),
                                                            False)]
    path.write_text("", encoding="utf-8")
    with pytest.raises(NmtError, match="the space names no config key"):
        read_space(path, tiny_yaml, [])


def finished_trials(storage):
    study = optuna.load_study(study_name="nmt-sweep", storage=storage)
    return [t for t in study.trials if t.state.is_finished()]


def test_a_killed_sweep_finishes_without_training_a_finished_trial_again(toy_corpus, tiny_yaml, space, tmp_path):
    out = tmp_path / "sweep"
    args = sweep_args(tiny_yaml, toy_corpus, space, out, "--trials", 2)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with open(tmp_path / "first.log", "w") as log:
        sweep = subprocess.Popen(args, env=env, stderr=log, start_new_session=True)
        while "trial 0: dev BLEU" not in (tmp_path / "first.log").read_text():
            assert sweep.poll() is None, (tmp_path / "first.log").read_text()
            time.sleep(0.05)
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    first = out / "runs" / "trial0"
    finished_model = (first / "best" / "model.safetensors").stat().st_mtime_ns

    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (first / "best" / "model.safetensors").stat().st_mtime_ns == finished_model
    assert (out / "runs" / "trial0.log").read_text().count("$ nmt train") == 1
    storage = f"sqlite:///{out / 'study.db'}"
    assert len([t for t in finished_trials(storage) if t.state.name == "COMPLETE"]) >= 2
    rows = read_csv(out / "sweep.csv")
    assert {row["trial"] for row in rows} >= {"0"} and all(float(row["dev_bleu"]) >= 0 for row in rows)
    assert (out / "importance.png").read_bytes().startswith(b"\x89PNG")


def test_workers_sharing_one_sqlite_study_never_run_the_same_trial(toy_corpus, tiny_yaml, space, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # two "machines", each with its own folder; the second runs two workers itself (--jobs 2): a trial each
    workers = [subprocess.Popen(sweep_args(tiny_yaml, toy_corpus, space, tmp_path / name, "--trials", 3,
                                           "--storage", storage, *jobs),
                                env=env, stderr=subprocess.PIPE, text=True)
               for name, jobs in (("a", ()), ("b", ("--jobs", 2)))]
    for worker in workers:
        assert worker.wait(timeout=600) == 0, worker.stderr.read()
    trained = {name: {p.name for p in (tmp_path / name / "runs").iterdir() if p.is_dir()} for name in "ab"}
    assert trained["a"] and trained["b"] and not trained["a"] & trained["b"]
    for name in "ab":
        for run in trained[name]:
            assert (tmp_path / name / "runs" / f"{run}.log").read_text().count("$ nmt train") == 1
    numbers = sorted(int(run.removeprefix("trial")) for run in trained["a"] | trained["b"])
    assert numbers == sorted(t.number for t in finished_trials(storage)) and len(numbers) >= 3
    configs = [(tmp_path / "b" / "runs" / run / "config.yaml").read_text() for run in trained["b"]]
    for text in configs:  # each a share of the cores, and of a GPU's memory where there is one
        assert f"threads: {cores_each(2)}" in text and "gpu_memory_share: 0.5" in text


def write_validations(run_dir, scores):
    run_dir.mkdir(exist_ok=True)
    events = [{"event": "valid", "step": 10 * (i + 1), "bleu": bleu} for i, bleu in enumerate(scores)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def test_the_pruner_stops_a_trial_that_trails_the_median(tmp_path):
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    for number in range(3):
        trial = study.ask()
        for validation, bleu in enumerate((5.0, 10.0, 15.0)):
            trial.report(bleu, validation)
        study.tell(trial, 15.0)
    good, bad = study.ask(), study.ask()
    write_validations(tmp_path / "good", [6.0, 11.0])
    PruningWatch(good)(tmp_path / "good")  # level with the others: it goes on
    write_validations(tmp_path / "bad", [4.0])
    watch = PruningWatch(bad)
    watch(tmp_path / "bad")  # the first validation is never judged (n_warmup_steps)
    write_validations(tmp_path / "bad", [4.0, 5.0])
    with pytest.raises(optuna.TrialPruned):
        watch(tmp_path / "bad")
    assert bad.user_attrs["pruned_at"] == 20

"""Training curves: RUN/training.png at the end of `nmt train`, and `nmt plot` of several runs."""
import json

import pytest

from nmt.errors import NmtError
from nmt.plot import read_events


def write_metrics(run, lines):
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_resumed_runs_repeated_steps_count_once_the_later_wins(tmp_path):
    write_metrics(tmp_path / "run", [
        {"event": "train", "step": 2, "loss": 5.0, "elapsed": 1.0},
        {"event": "valid", "step": 2, "bleu": 1.0, "elapsed": 1.5},
        {"event": "train", "step": 4, "loss": 4.0, "elapsed": 2.0},  # killed after this; resumed from step 2
        {"event": "train", "step": 4, "loss": 3.9, "elapsed": 2.1},
        {"event": "nonfinite", "step": 5},
        {"event": "valid", "step": 6, "bleu": 2.0, "elapsed": 3.0},
    ])
    events = read_events(tmp_path / "run")
    assert [(e["step"], e["loss"]) for e in events["train"]] == [(2, 5.0), (4, 3.9)]
    assert [(e["step"], e["bleu"]) for e in events["valid"]] == [(2, 1.0), (6, 2.0)]


def test_a_broken_metrics_line_is_named(tmp_path):
    write_metrics(tmp_path / "run", [{"event": "train", "step": 1, "loss": 1.0}])
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:
        f.write("{not json\n")
    with pytest.raises(NmtError, match=r"metrics.jsonl:2: not a JSON line"):
        read_events(tmp_path / "run")


def test_train_draws_its_run_and_plot_draws_several(run_cli, run_dir, tiny_cfg, tmp_path):
    import shutil

    from nmt.schema import dump_yaml

    config = tmp_path / "tiny.yaml"
    config.write_text(dump_yaml(tiny_cfg))
    runs = [shutil.copytree(run_dir, tmp_path / name) for name in ("a", "b")]
    for run in runs:
        r = run_cli("train", "--config", config, "--run-dir", run, "--set", "train.limits.max_steps=4",
                    "--set", "train.log_every=1", "--set", "train.validation.every=2",
                    "--set", "train.validation.size=4")
        assert r.returncode == 0, r.stderr
        assert (run / "training.png").read_bytes().startswith(b"\x89PNG")
    r = run_cli("plot", *runs, "--out", tmp_path / "both.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "both.png").read_bytes().startswith(b"\x89PNG")
    r = run_cli("plot", tmp_path / "nothing")
    assert r.returncode == 2 and r.stderr.strip() == (f"nmt plot: error: {tmp_path / 'nothing'}: no metrics.jsonl "
                                                      "(not a run directory, or nothing trained yet)")


def test_a_curve_plot_draws_the_spread_over_seeds_as_error_bars(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from nmt.sweep.report import plot_lines

    drawn = []
    errorbar = Axes.errorbar
    monkeypatch.setattr(Axes, "errorbar", lambda self, x, y, **kw: drawn.append((x, y, kw["yerr"])) or
                        errorbar(self, x, y, **kw))
    rows = [{"config": "a", "words": 30000, "bleu": 20.0, "sd": 0.5},
            {"config": "a", "words": 10000, "bleu": 10.0, "sd": 1.5},
            {"config": "b", "words": 10000, "bleu": 5.0}]
    plot_lines(tmp_path / "curve.png", rows, x="words", y="bleu", line="config", xlabel="", ylabel="", title="",
               spread="sd")
    assert drawn == [((10000, 30000), (10.0, 20.0), (1.5, 0.5)), ((10000,), (5.0,), (0.0,))]  # one seed: no bar
    assert (tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG")

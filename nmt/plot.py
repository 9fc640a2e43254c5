"""Training curves of runs: loss and dev BLEU against updates and against seconds, from metrics.jsonl.

The trainer draws its own run into RUN/training.png when it ends; `nmt plot RUN [RUN ...] --out F`
draws several runs on one figure, one colour per run.
"""
import json
from pathlib import Path

from nmt import atomic
from nmt.errors import NmtError
from nmt.rundir import RunDir

PANELS = [("train", "loss", "training loss (per token)"), ("valid", "bleu", "dev BLEU")]
AXES = [("step", "updates"), ("elapsed", "seconds of training")]


def read_events(run_dir):
    """{'train': [...], 'valid': [...]} of a run, by step; where a resumed run repeated steps after a
    kill, the later record of a step wins."""
    path = RunDir(run_dir).metrics
    if not path.is_file():
        raise NmtError(f"{run_dir}: no metrics.jsonl (not a run directory, or nothing trained yet)")
    by_kind = {kind: {} for kind, _, _ in PANELS}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            event = json.loads(line)
        except ValueError:
            raise NmtError(f"{path}:{number}: not a JSON line") from None
        if event.get("event") in by_kind:
            by_kind[event["event"]][event["step"]] = event
    return {kind: [events[step] for step in sorted(events)] for kind, events in by_kind.items()}


def plot_runs(run_dirs, out):
    """One PNG: a row per quantity (loss, dev BLEU), a column per x axis (updates, seconds)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    runs = [(Path(run).name, read_events(run)) for run in run_dirs]
    figure, grid = plt.subplots(len(PANELS), len(AXES), figsize=(10, 6.5), squeeze=False)
    for row, (kind, value, label) in enumerate(PANELS):
        for column, (x, x_label) in enumerate(AXES):
            axes = grid[row][column]
            for name, events in runs:
                points = [(e[x], e[value]) for e in events[kind] if x in e and value in e]
                if points:
                    axes.plot(*zip(*points), label=name, marker="o" if kind == "valid" else None, markersize=3)
            axes.set(xlabel=x_label, ylabel=label)
            axes.grid(True, alpha=0.3)
    drawn = [axes for axes in grid.flat if axes.lines]  # a run shorter than train.log_every has no loss line
    if drawn:
        drawn[0].legend()
    figure.tight_layout()
    with atomic.atomic_path(out) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)

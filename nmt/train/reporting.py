"""Where training progress goes: metrics.jsonl, TensorBoard and the terminal."""
import json
import os
import time

from tqdm import tqdm


def say(message):
    """A line for the user, printed above the progress bar."""
    tqdm.write(message)


class QuietReporter:
    """The reporter of a rank other than 0: rank 0 alone logs and writes files."""

    def event(self, kind, step, **values):
        pass

    def step(self, progress=None, **postfix):
        pass

    def close(self):
        pass


class Reporter:
    """`budgeted`: the run has a limit (time, steps or epochs), and the bar shows the share of it spent,
    so that tqdm's remaining time is the run's ETA; without one it counts updates. The bar shows on a
    terminal only (or with `show_bar`); logs always get the periodic lines."""

    BUDGET_BAR = "{l_bar}{bar}| {n:.1f}% of the budget [{elapsed}<{remaining}{postfix}]"

    def __init__(self, metrics_path, tensorboard_dir, budgeted=False, progress=0.0, bar_file=None, show_bar=None):
        self.metrics_path = metrics_path
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        from torch.utils.tensorboard import SummaryWriter  # slow import: only when training

        self.tensorboard = SummaryWriter(str(tensorboard_dir))
        self.bar = tqdm(total=100 if budgeted else None, initial=100 * progress if budgeted else 0,
                        bar_format=self.BUDGET_BAR if budgeted else None, unit="step", dynamic_ncols=True,
                        file=bar_file, disable=None if show_bar is None else not show_bar)

    def event(self, kind, step, **values):
        """One line of metrics.jsonl, the same scalars in TensorBoard."""
        record = {"event": kind, "step": step, "time": round(time.time(), 3), **values}
        line = (json.dumps(record) + "\n").encode("utf-8")
        # a single O_APPEND write: a kill leaves whole lines only
        fd = os.open(self.metrics_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        for name, value in values.items():
            if isinstance(value, (int, float)):
                self.tensorboard.add_scalar(f"{kind}/{name}", value, step)

    def step(self, progress=None, **postfix):
        """After an update; `progress` is the share of the budget spent (for a budgeted bar)."""
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1 if self.bar.total is None else min(100.0, 100 * progress) - self.bar.n)


    def close(self):
        self.bar.close()
        self.tensorboard.close()

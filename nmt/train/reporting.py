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

    def step(self, **postfix):
        pass

    def close(self):
        pass


class Reporter:
    def __init__(self, metrics_path, tensorboard_dir, total_steps=None, initial_step=0):
        self.metrics_path = metrics_path
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        from torch.utils.tensorboard import SummaryWriter  # slow import: only when training

        self.tensorboard = SummaryWriter(str(tensorboard_dir))
        # the bar only on a terminal; logs always get the periodic lines below
        self.bar = tqdm(total=total_steps, initial=initial_step, unit="step", dynamic_ncols=True, disable=None)

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

    def step(self, **postfix):
        self.bar.update(1)
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)


    def close(self):
        self.bar.close()
        self.tensorboard.close()

"""Where everything of a run lives. See docs/ARCHITECTURE.md for the layout."""
import contextlib
import fcntl
import os
from pathlib import Path

from nmt.errors import NmtError


class RunDir:
    def __init__(self, root):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    tokenizer = property(lambda self: self.root / "tokenizer")
    data = property(lambda self: self.root / "data")
    checkpoints = property(lambda self: self.root / "checkpoints")
    checkpoint = property(lambda self: self.checkpoints / "last.pt")
    best = property(lambda self: self.root / "best")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    tensorboard = property(lambda self: self.root / "tensorboard")
    plot = property(lambda self: self.root / "training.png")
    valid = property(lambda self: self.root / "valid")

    def update_checkpoint(self, step):
        """The checkpoint kept of update `step` (train.keep_checkpoints), for `nmt average`."""
        return self.checkpoints / f"step{step}.pt"

    def update_checkpoints(self):
        """{step: path} of the kept update checkpoints."""
        paths = self.checkpoints.glob("step*.pt")
        return {int(p.stem[4:]): p for p in paths if p.stem[4:].isdigit()}

    @contextlib.contextmanager
    def lock(self):
        """Hold the run directory for one trainer: an exclusive lock on `.lock`, which the system drops
        when the process ends however it ends, so a killed trainer leaves nothing stuck. A POSIX record
        lock, not flock: the processes the trainer forks (loader workers, the segmenting worker) do not
        inherit it, so they cannot hold the directory for a few seconds after a killed trainer."""
        with open(self.root / ".lock", "a+", encoding="utf-8") as handle:
            try:
                fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except (BlockingIOError, PermissionError):  # EAGAIN or EACCES, as the system says it
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise NmtError(f"{self.root}: a trainer ({holder}) is using this run directory; wait for it "
                               "to end or train in another --run-dir") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            yield

    def train_text(self, side):
        """Cleaned training text, side 'src' or 'tgt', kept for re-segmenting it each epoch (tokenizer.sampling)."""
        return self.data / f"train.{side}.txt"

    def valid_text(self, side):
        """Raw dev-set text kept for validation: side 'src' (source) or 'ref' (reference)."""
        return self.data / f"valid.{side}.txt"

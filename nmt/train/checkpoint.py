"""Full training state, written atomically and read back without executing code."""
import pickle

import torch

from nmt import atomic
from nmt.errors import NmtError


def save_checkpoint(path, state):
    """`state` holds only tensors, numbers, strings, lists and dicts, so weights_only loading accepts it."""
    with atomic.atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path):
    if not path.is_file():
        raise NmtError(f"{path}: no checkpoint to resume from")
    try:
        # weights_only: a tampered file cannot make unpickling call arbitrary code
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NmtError(f"{path}: not a loadable checkpoint ({first_line})") from None

"""Full training state, written atomically and read back without executing code."""
import pickle
import warnings

import torch

from nmt import atomic
from nmt.errors import NmtError, one_line


def save_checkpoint(path, state):
    """`state` holds only tensors, numbers, strings, lists and dicts, so weights_only loading accepts it."""
    with atomic.atomic_path(path) as tmp:
        try:
            torch.save(state, tmp)
        except (RuntimeError, OSError) as e:  # how torch reports a failed write (disk full, file-size limit)
            raise NmtError(f"{path}: could not write the checkpoint (is the disk full? {one_line(e)}); "
                           "the previous one is kept") from None


def load_checkpoint(path):
    if not path.is_file():
        raise NmtError(f"{path}: no checkpoint to resume from")
    try:
        with warnings.catch_warnings():  # torch warns (several lines) about pickles it did not write
            warnings.simplefilter("ignore")
            # weights_only: a tampered file cannot make unpickling call arbitrary code
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        reason = one_line(e)
        if "WeightsUnpickler error:" in str(e):  # torch's message is a paragraph; keep its last clause
            detail = one_line(str(e).split("WeightsUnpickler error:", 1)[1]).split(". ")[0]
            reason = f"refused to unpickle objects other than tensors and plain data: {detail}"
        raise NmtError(f"{path}: not a loadable checkpoint ({reason})") from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        reason = one_line(e).split(". ")[0]
        if not getattr(e, "filename", None):  # an OSError naming the file is a read error, not bad content
            reason = f"truncated or corrupt: {reason}"
        raise NmtError(f"{path}: not a loadable checkpoint ({reason})") from None
    if not isinstance(state, dict):
        raise NmtError(f"{path}: not a checkpoint written by `nmt train` (holds a {type(state).__name__})")
    return state

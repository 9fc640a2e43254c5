"""Choosing the torch device from a config or command-line name."""
import torch

from nmt.errors import NmtError


def pick_device(name="auto"):
    """auto: CUDA when present, else CPU; an explicit CUDA request on a machine without it is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise NmtError(f"device {name!r} requested, but CUDA is not available on this machine")
    return torch.device(name)

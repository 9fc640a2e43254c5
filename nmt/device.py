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


def slow_bf16(device):
    """True on a CPU without bf16 instructions (AVX512-BF16 or AMX), where PyTorch emulates bf16
    matmuls: measured 5x slower than fp32 on such an Intel Xeon, so bf16 autocast only costs there."""
    if device.type != "cpu":
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return not any(check() for check in checks if check is not None) and any(checks)

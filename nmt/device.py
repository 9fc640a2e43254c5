"""Choosing the torch device from a config or command-line name, the CPU cores to use, and the C allocator's
settings for a CPU."""
import ctypes
import ctypes.util
import os

import torch

from nmt.errors import NmtError


def usable_cores():
    """The cores this process may run on: all of the machine's, unless `taskset`, a cgroup cpuset or a batch
    scheduler gave it fewer (os.cpu_count() would oversubscribe those)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cores_each(processes):
    """Threads for each of `processes` sharing this process's cores (at least one)."""
    return max(1, usable_cores() // processes)


def share_gpu_memory(device, share):
    """Caps this process's share of the GPU's memory (runs side by side on one GPU, each told 1/N): a run
    that would take more gets CUDA's out-of-memory error, and training splits its batches (nmt/train/update.py)
    instead of taking the others' memory. Nothing to do on a CPU or for a share of 0."""
    if device.type == "cuda" and share:
        torch.cuda.set_per_process_memory_fraction(share, device)


def pick_device(name="auto"):
    """auto: CUDA when present, else CPU; an explicit CUDA request on a machine without it is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise NmtError(f"device {name!r} requested, but CUDA is not available on this machine")
    return torch.device(name)


def bf16_instructions():
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX); None where torch cannot tell."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    checks = [check for check in checks if check is not None]
    return any(check() for check in checks) if checks else None


def slow_bf16(device):
    """True on a CPU without bf16 instructions, where PyTorch emulates bf16 matmuls: measured 5x slower
    than fp32 on such an Intel Xeon, so bf16 autocast only costs there."""
    return device.type == "cpu" and bf16_instructions() is False


def resolve_precision(precision, device):
    """`train.compute.precision` on `device`: auto is bf16 where the hardware computes in it (CUDA GPUs from
    Ampere on, CPUs with AVX512-BF16 or AMX), else fp16 on a CUDA GPU (V100, T4: with loss scaling) and
    fp32 on a CPU; other values stand."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"
    return "bf16" if device.type == "cpu" and bf16_instructions() else "fp32"


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory(mmap_threshold=32 * 2**20, trim_threshold=256 * 2**20):
    """Have glibc keep up to `trim_threshold` bytes of freed memory for reuse instead of returning it to the
    kernel whenever more than 64 MiB is free at the top of the heap (its default once blocks of 32 MiB were
    freed), and serve blocks below `mmap_threshold` from the heap. A training update frees and allocates
    hundreds of MiB of activations; returned, every page of them was faulted in and zeroed again the next
    update: 50,000 page faults an update in bf16 training of the Multi30k recipe on a Xeon with AMX, 4,500
    with these settings, and updates 6-9 % faster (docs/BENCHMARKS.md, "Training speed and memory"). True
    where the settings took (glibc); elsewhere the allocator keeps its own policy."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))

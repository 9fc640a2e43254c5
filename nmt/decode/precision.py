"""Lower-precision decoding: weights in bf16 / fp16, or dynamic int8 linear layers on CPU.

Models return fp32 log-probabilities whatever their weights' type (decode_step casts the logits),
so scores are summed in fp32 and only the network itself runs in lower precision.
"""
import warnings

import torch
from torch import nn

from nmt.errors import NmtError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cast_weights(model, dtype, device):
    """The model (changed in place) with floating-point weights in `dtype` (fp32 | bf16 | fp16); fp16 only on a GPU,
    where it has fast kernels (on a CPU, bf16 is the half-width choice)."""
    if dtype not in DTYPES:
        raise NmtError(f"--dtype {dtype}: expected one of {', '.join(DTYPES)}")
    if dtype == "fp16" and torch.device(device).type != "cuda":
        raise NmtError(f"--dtype fp16 needs a CUDA device (decoding on {device}); use --dtype bf16 on a CPU")
    return model.to(DTYPES[dtype])


def quantize_int8(model, device):
    """Every nn.Linear with int8 weights, activations quantised on the fly (CPU only)."""
    if torch.device(device).type != "cpu":
        raise NmtError(f"--quantize int8 runs on the CPU only (decoding on {device}); use --device cpu")
    with warnings.catch_warnings():  # torch marks torch.ao.quantization deprecated (in favour of torchao)
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)

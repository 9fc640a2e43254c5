"""Dropout whose masks are cheap to draw on a CPU.

PyTorch's dropout draws one random float per element (`bernoulli_`); in bf16 training on a Xeon with AMX
those draws took about a fifth of an update (docs/BENCHMARKS.md). Here one 64-bit draw gives four 15-bit
uniforms, and an element is kept when its uniform is at least round(p * 2^15): p is honoured to 1/32768.
The mask is kept as booleans for the backward pass, as PyTorch's own dropout keeps it. Off the CPU,
PyTorch's dropout is used (the GPU figures in docs/BENCHMARKS.md were measured with it).
"""
import torch
import torch.nn.functional as F
from torch import nn

LEVELS = 2 ** 15  # 15 random bits an element: the top bit of the 4th int16 of a draw is always 0


def keep_mask(shape, p):
    """Booleans of `shape`, each True with probability 1 - p (to 1/32768), from the default generator."""
    n = shape.numel()
    draws = torch.empty((n + 3) // 4, dtype=torch.int64).random_()  # uniform over [0, 2^63)
    uniforms = draws.view(torch.int16)[:n].view(shape).bitwise_and_(LEVELS - 1)
    return uniforms >= round(p * LEVELS)


class _ScaleKept(torch.autograd.Function):
    """x * keep / (1 - p), and the same scaling of the gradient."""

    @staticmethod
    def forward(ctx, x, keep, scale):
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return _ScaleKept.masked(x, keep, scale)

    @staticmethod
    def backward(ctx, grad):
        keep, = ctx.saved_tensors
        return _ScaleKept.masked(grad, keep, ctx.scale), None, None

    @staticmethod
    def masked(t, keep, scale):
        # 0 + scale * t * keep in one pass, in float32 for a bf16 t (no bf16-rounded scale); the mask read as
        # bytes: PyTorch converts booleans 5x slower (docs/BENCHMARKS.md)
        return torch.addcmul(t.new_zeros(()), t, keep.view(torch.uint8), value=scale)


class Dropout(nn.Module):
    """nn.Dropout's behaviour (zero each element with probability p in training, scale the rest by
    1 / (1 - p); the identity in evaluation) with the cheaper masks above."""

    def __init__(self, p):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":  # a GPU draws and applies PyTorch's mask in one fused kernel
            return F.dropout(x, self.p, training=True)
        return _ScaleKept.apply(x, keep_mask(x.shape, self.p), 1 / (1 - self.p))

    def extra_repr(self):
        return f"p={self.p}"

"""Dropout whose masks are cheap to draw on a CPU.

PyTorch's dropout draws one random float per element (`bernoulli_`); in bf16 training on a Xeon with AMX
those draws took about a fifth of an update (docs/BENCHMARKS.md). Here one 64-bit draw gives four 16-bit
uniforms, and an element is kept when its uniform is at least round(p * 2^16) from the bottom of their
range: p is honoured to 1/65536. The draws come from NumPy's SFC64 generator, seeded by one draw of
PyTorch's default generator per mask (so `torch.manual_seed` and a checkpoint's generator state reproduce
them): it fills 64-bit words about twice as fast as PyTorch's CPU generator.
The mask is kept as booleans for the backward pass, as PyTorch's own dropout keeps it. A residual
connection's dropout adds its input in the same pass (`Dropout(x, residual)`). Off the CPU, PyTorch's dropout
is used (the GPU figures in docs/BENCHMARKS.md were measured with it).

`relu_dropout` is dropout(relu(x)) keeping only its output for the backward pass, which the next linear
layer keeps anyway: apart, ReLU kept its output and dropout its mask, 3 bytes an element more in bf16 (the
Transformer's feed-forward layers: 72 MiB of the recipe's 4,096-token batches).
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def draws_own_mask(x, p, training):
    """Whether dropout of `x` draws nmt's mask: in training, on a CPU. Elsewhere PyTorch's dropout serves (the
    identity outside training or at p = 0; on a GPU it draws and applies its mask in one fused kernel)."""
    return training and p > 0 and x.device.type == "cpu"


def keep_mask(shape, p):
    """Booleans of `shape`, each True with probability 1 - p (to 1/65536), seeded from the default generator."""
    n = shape.numel()
    draws = np.random.SFC64(int(torch.randint(2 ** 62, ()))).random_raw((n + 3) // 4)
    uniforms = draws.view(np.int16)[:n]  # uniform over [-2^15, 2^15)
    # compared in NumPy: twice as fast as PyTorch's comparison of 16-bit integers (docs/BENCHMARKS.md)
    return torch.from_numpy(uniforms >= round(p * 2 ** 16) - 2 ** 15).view(shape)


class _AddScaleKept(torch.autograd.Function):
    """base + x * keep / (1 - p) in one pass; the gradient passes to base as is and to x through the mask."""

    @staticmethod
    def forward(ctx, base, x, keep, scale):
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return _AddScaleKept.masked(base, x, keep, scale)

    @staticmethod
    def backward(ctx, grad):
        keep, = ctx.saved_tensors
        to_base = grad if ctx.needs_input_grad[0] else None
        return to_base, _AddScaleKept.masked(grad.new_zeros(()), grad, keep, ctx.scale), None, None

    @staticmethod
    def masked(base, t, keep, scale):
        # base + scale * t * keep, in float32 for bf16 tensors (no bf16-rounded scale); the mask read as bytes:
        # PyTorch converts booleans 5x slower (docs/BENCHMARKS.md)
        return torch.addcmul(base, t, keep.view(torch.uint8), value=scale)


class _ReluScaleKept(torch.autograd.Function):
    """relu(x) * keep / (1 - p). The backward needs only the output y: an element's gradient passes (scaled)
    exactly where y > 0, that is where x > 0 and the element was kept (x * scale never rounds to 0)."""

    @staticmethod
    def forward(ctx, x, keep, scale):
        y = _AddScaleKept.masked(x.new_zeros(()), x.clamp_min(0), keep, scale)
        ctx.save_for_backward(y)
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx, grad):
        y, = ctx.saved_tensors
        # ReLU's own backward (the gradient where y > 0, else 0), then the scale: twice as fast as building
        # the boolean mask y > 0 and applying it (docs/BENCHMARKS.md)
        return torch.ops.aten.threshold_backward(grad, y, 0).mul_(ctx.scale), None, None


def relu_dropout(x, p, training):
    """dropout(relu(x), p) with nmt's masks on a CPU, keeping one tensor for the backward pass, not two."""
    if draws_own_mask(x, p, training):
        return _ReluScaleKept.apply(x, keep_mask(x.shape, p), 1 / (1 - p))
    return F.dropout(F.relu(x), p, training)


class Dropout(nn.Module):
    """nn.Dropout's behaviour (zero each element with probability p in training, scale the rest by
    1 / (1 - p); the identity in evaluation) with the cheaper masks above."""

    def __init__(self, p):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x, residual=None):
        """dropout(x), or residual + dropout(x) with `residual` (one pass on a CPU, not two)."""
        if draws_own_mask(x, self.p, self.training):
            base = x.new_zeros(()) if residual is None else residual
            return _AddScaleKept.apply(base, x, keep_mask(x.shape, self.p), 1 / (1 - self.p))
        dropped = F.dropout(x, self.p, self.training)
        return dropped if residual is None else residual + dropped

    def extra_repr(self):
        return f"p={self.p}"

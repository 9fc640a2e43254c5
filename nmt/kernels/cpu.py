"""Kernels for training on a CPU: dropout with cheap masks, bf16 attention, a bf16 residual stream.

Dropout. PyTorch's dropout draws one random float per element (`bernoulli_`); in bf16 training on a Xeon with AMX
those draws took about a fifth of an update (docs/BENCHMARKS.md, "Training speed and memory"). Here one 64-bit draw
gives four 16-bit uniforms, and an element is kept when its uniform is at least round(p * 2^16) from the bottom of
their range: p is honoured to 1/65536. The draws come from NumPy's SFC64 generator, seeded by one draw of PyTorch's
default generator per mask (so `torch.manual_seed` and a checkpoint's generator state reproduce them): it fills
64-bit words about twice as fast as PyTorch's CPU generator. The mask is kept for the backward pass, as PyTorch's own
dropout keeps it. A residual connection's dropout adds its input in the same pass (`add_dropout`). `relu_dropout`
keeps only its output for the backward pass, which the next linear layer keeps anyway: apart, ReLU kept its output
and dropout its mask, 3 bytes an element more in bf16 (the Transformer's feed-forward layers: 72 MiB of the recipe's
4,096-token batches). Off the CPU or outside training each falls back to the reference (on a GPU PyTorch draws and
applies a mask in one fused kernel).

Attention and the residual stream under bf16 autocast on a CPU: see `attention` and `residual_stream`; the RNN's
additive attention over a whole target: `additive_scores`.
"""
import numpy as np
import torch
import torch.nn.functional as F

from nmt.device import bf16_instructions
from nmt.kernels import reference


def draws_own_mask(x, p, training):
    """Whether dropout of `x` draws nmt's mask: in training, on a CPU. Elsewhere PyTorch's dropout serves (the
    identity outside training or at p = 0; on a GPU it draws and applies its mask in one fused kernel)."""
    return training and p > 0 and x.device.type == "cpu"


def keep_mask(shape, p):
    """Booleans of `shape`, each True with probability 1 - p (to 1/65536), seeded from the default generator."""
    n = shape.numel()
    draws = np.random.SFC64(int(torch.randint(2 ** 62, ()))).random_raw((n + 3) // 4)
    uniforms = draws.view(np.int16)[:n]  # uniform over [-2^15, 2^15)
    # compared in NumPy: twice as fast as PyTorch's comparison of 16-bit integers (docs/BENCHMARKS.md,
    # "Training speed and memory")
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
        # PyTorch converts booleans 5x slower (docs/BENCHMARKS.md, "Training speed and memory")
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
        # the boolean mask y > 0 and applying it (docs/BENCHMARKS.md, "Training speed and memory")
        return torch.ops.aten.threshold_backward(grad, y, 0).mul_(ctx.scale), None, None


def dropout(x, p, training):
    if draws_own_mask(x, p, training):
        return _AddScaleKept.apply(x.new_zeros(()), x, keep_mask(x.shape, p), 1 / (1 - p))
    return reference.dropout(x, p, training)


def add_dropout(residual, x, p, training):
    if draws_own_mask(x, p, training):
        return _AddScaleKept.apply(residual, x, keep_mask(x.shape, p), 1 / (1 - p))
    return reference.add_dropout(residual, x, p, training)


def relu_dropout(x, p, training):
    if draws_own_mask(x, p, training):
        return _ReluScaleKept.apply(x, keep_mask(x.shape, p), 1 / (1 - p))
    return reference.relu_dropout(x, p, training)


def bf16_autocast_on(device_type):
    return torch.is_autocast_enabled(device_type) and torch.get_autocast_dtype(device_type) == torch.bfloat16


# the bf16 attention kernel against the reference (which computes in float32), scripts/benchmark_kernels.py: 3.5x
# slower where bf16 matmuls are emulated (an AMD EPYC with AVX2 only), 3.2x faster with AVX512-BF16 (an AMD EPYC);
# None: torch cannot tell
CPU_COMPUTES_BF16 = bf16_instructions() is not False


def attention(q, k, v, mask=None, causal=False, dropout_p=0.0):
    if q.device.type == "cpu" and bf16_autocast_on("cpu") and CPU_COMPUTES_BF16:
        return bf16_attention(q, k, v, mask, causal, dropout_p)
    return reference.attention(q, k, v, mask, causal, dropout_p)


def bf16_attention(q, k, v, mask=None, causal=False, dropout_p=0.0):
    """Under bf16 autocast on a CPU (training) PyTorch's math kernel upcasts q, k and v to float32 and its flash
    kernel's backward is slow, so the scores are bf16 matmuls and the softmax runs in float32 (autocast's
    rule), as fairseq's attention does in half precision: forward and backward 1.2-2.2x faster than the math
    kernel on the recipe's batches on a Xeon with AMX (docs/BENCHMARKS.md, "Training speed and memory")."""
    (b, heads, q_len, head_size), k_len = q.shape, k.size(-2)
    # the scaling inside the product: scaling q first copied it twice (the scaled q kept the heads' strides)
    scores = torch.baddbmm(q.new_zeros(()), q.reshape(b * heads, q_len, head_size),
                           k.reshape(b * heads, k_len, head_size).transpose(1, 2), beta=0,
                           alpha=head_size ** -0.5).view(b, heads, q_len, k_len)
    if causal:
        mask = torch.ones(q_len, k_len, dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return F.dropout(scores.softmax(dim=-1), dropout_p) @ v


# elements of the (N, G, S, H) intermediates of additive attention computed at once: 8 MiB in fp32
ADDITIVE_SCORES_BUDGET = 2 ** 21


def additive_scores(keys, queries, v):
    """The reference's scores for a few of each row's queries at a time. When the RNN computes attention for
    all target positions of a batch at once, the (N, G, S, H) intermediates of the reference run to 100 MB:
    out of the caches and, above the 32 MiB that glibc serves from its heap (`keep_freed_memory`), fresh
    pages on every call. In slices of at most ADDITIVE_SCORES_BUDGET elements, forward and backward on the
    low-resource BiLSTM's MAFAND batches took 2-2.5x less time (fp32; docs/BENCHMARKS.md,
    "Training speed and memory")."""
    rows, length, hidden = keys.shape
    per_slice = max(1, ADDITIVE_SCORES_BUDGET // (rows * length * hidden))
    if keys.device.type != "cpu" or per_slice >= queries.size(1):
        return reference.additive_scores(keys, queries, v)
    return torch.cat([reference.additive_scores(keys, part, v) for part in queries.split(per_slice, 1)], 1)


def residual_stream(x):
    """Under bf16 autocast (any device) the residual stream is carried in bf16: the linear layers take it without a
    cast and each elementwise pass moves half the bytes (docs/BENCHMARKS.md, "Training speed and memory": 113 MiB
    less over the recipe's first 200 updates, a few % more tokens/s). Elsewhere as the embeddings made it."""
    return x.to(torch.bfloat16) if bf16_autocast_on(x.device.type) else x

"""Kernels for the training loss: the label-smoothed cross-entropy in fewer passes, and the rows it is
computed on padded to a few shapes."""
import torch
import torch.nn.functional as F

from nmt.tokenize.base import PAD_ID

ROWS_MULTIPLE = 128


class SmoothedCrossEntropy(torch.autograd.Function):
    """The summed label-smoothed cross-entropy (Szegedy et al. 2016) of logits (N, V) against gold ids (N,),
    rows whose gold is PAD_ID left out; in float32 from logits of any dtype, the gradient in the logits' dtype.

        loss  = -(1 - s) log p[gold] - s mean(log p)       per row, with log p = log_softmax(x)
        dloss = p - (1 - s) onehot(gold) - s / V

    The reference's F.cross_entropy(..., ignore_index=PAD_ID, label_smoothing=s, reduction="sum") in fewer passes
    over the (N, V) logits (tests/test_kernels.py): PyTorch's backward fills, scatters and adds (N, V) tensors, each
    a pass, and the fused log-softmax backward is slow on a CPU; in bf16 training on a Xeon with AMX these passes
    took several times the output layer's matmuls (docs/BENCHMARKS.md, "Training speed and memory"). Here the forward
    keeps the float32 log-probabilities and the backward turns them into the gradient in place, then casts it once.
    Log-probabilities as x give the same loss (log_softmax leaves them unchanged)."""

    @staticmethod
    def forward(ctx, logits, gold, smoothing):
        log_probs = F.log_softmax(logits, dim=-1, dtype=torch.float32)
        per_row = -(1 - smoothing) * log_probs.gather(1, gold[:, None]).squeeze(1) - smoothing * log_probs.mean(-1)
        ctx.save_for_backward(log_probs, gold)
        ctx.smoothing, ctx.logits_dtype = smoothing, logits.dtype
        return torch.where(gold != PAD_ID, per_row, 0).sum()  # no boolean indexing: no device sync on a GPU

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        log_probs, gold = ctx.saved_tensors
        s, weight = ctx.smoothing, ((gold != PAD_ID) * grad)[:, None]  # 0 on padding rows
        # the saved log-probabilities become the gradient in place: one (N, V) float32 tensor, not four
        dx = log_probs.exp_().mul_(weight).sub_(weight * (s / log_probs.size(-1)))
        dx.scatter_add_(1, gold[:, None], weight * -(1 - s))
        return dx.to(ctx.logits_dtype), None, None


def smoothed_cross_entropy(logits, gold, smoothing):
    return SmoothedCrossEntropy.apply(logits, gold, smoothing)


def padded_rows(count):
    """A count of loss rows rounded up to a multiple of ROWS_MULTIPLE: one matmul shape per count of real
    tokens made oneDNN build and keep a primitive, with its buffers, for nearly every update of bf16 training
    on a CPU (8 GiB resident at the end of the recipe's 20 minutes, against 2.4 GiB with the padding;
    docs/BENCHMARKS.md, "Training speed and memory")."""
    return count + -count % ROWS_MULTIPLE

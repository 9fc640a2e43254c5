"""Training losses."""
import torch
import torch.nn.functional as F

from nmt.tokenize.base import PAD_ID

CHUNK_TOKENS = 1024  # target tokens projected to the vocabulary at a time by backward_in_chunks
ROWS_MULTIPLE = 128  # ... rounded up to a multiple of this: a few matmul shapes, not one per batch


class SmoothedCrossEntropy(torch.autograd.Function):
    """The summed label-smoothed cross-entropy (Szegedy et al. 2016) of logits (N, V) against gold ids (N,),
    rows whose gold is PAD_ID left out; in float32 from logits of any dtype, the gradient in the logits' dtype.

        loss  = logsumexp(x) - (1 - s) x[gold] - s mean(x)     per row: -sum_v q_v log softmax(x)_v, rearranged
        dloss = softmax(x) - (1 - s) onehot(gold) - s / V

    F.cross_entropy(..., ignore_index=PAD_ID, label_smoothing=s, reduction="sum") in fewer passes over the
    (N, V) logits (tests/test_train.py): PyTorch's path casts them, takes a log-softmax, fills, scatters and
    adds, each a pass; in a profile of bf16 training on a Xeon with AMX these passes took several times the
    output layer's matmuls (docs/BENCHMARKS.md). Log-probabilities as x give the same loss (lse is then 0)."""

    @staticmethod
    def forward(ctx, logits, gold, smoothing):
        x = logits.float()
        lse = torch.logsumexp(x, dim=-1)
        real = gold != PAD_ID
        per_row = lse - (1 - smoothing) * x.gather(1, gold[:, None]).squeeze(1) - smoothing * x.mean(dim=-1)
        ctx.save_for_backward(logits, gold, lse)
        ctx.smoothing = smoothing
        return torch.where(real, per_row, 0).sum()  # no boolean indexing: no device sync on a GPU

    @staticmethod
    def backward(ctx, grad):
        logits, gold, lse = ctx.saved_tensors
        s, rows = ctx.smoothing, torch.arange(len(gold), device=gold.device)
        dx = (logits.float() - lse[:, None]).exp_().sub_(s / logits.size(-1))
        dx[rows, gold] -= 1 - s
        dx.mul_(((gold != PAD_ID) * grad)[:, None])
        return dx.to(logits.dtype), None, None


def label_smoothed_cross_entropy(logits, target, smoothing):
    """Summed cross-entropy over non-pad targets, with probability `smoothing` spread uniformly
    over the vocabulary (Szegedy et al. 2016), in float32. logits (or log-probabilities): (B, T, V);
    target: (B, T)."""
    return SmoothedCrossEntropy.apply(logits.reshape(-1, logits.size(-1)), target.reshape(-1), smoothing)


def backward_in_chunks(states, target, project, smoothing, scale, chunk_tokens=CHUNK_TOKENS):
    """Backpropagate `scale` x the label-smoothed loss of logits `project(states)` against `target`, and
    return the loss (a 0-d tensor, detached), projecting `chunk_tokens` real target positions at a time.

    The (tokens x vocabulary) logits, their log-softmax and its gradient never exist whole: they are
    most of a training step's peak memory. Padding positions never reach the output layer. The real
    positions are padded (zero vectors, ignored targets) to a multiple of ROWS_MULTIPLE: a matmul shape
    per count of real tokens made oneDNN build and keep a primitive, with its buffers, for nearly every
    update of bf16 training on a CPU (8 GiB resident at the end of the recipe's 20 minutes, against 2.4 GiB
    with the padding; docs/BENCHMARKS.md)."""
    real = target != PAD_ID
    gold, vectors = target[real], states[real]
    detached = vectors.detach().requires_grad_()
    filler = -len(gold) % ROWS_MULTIPLE
    padded, padded_gold = F.pad(detached, (0, 0, 0, filler)), F.pad(gold, (0, filler), value=PAD_ID)
    total = states.new_zeros((), dtype=torch.float32)
    for part, part_gold in zip(padded.split(chunk_tokens), padded_gold.split(chunk_tokens)):
        loss = SmoothedCrossEntropy.apply(project(part), part_gold, smoothing)
        (loss * scale).backward()
        total += loss.detach()
    vectors.backward(detached.grad)  # then the rest of the model, once
    return total

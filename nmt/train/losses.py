"""Training losses."""
import torch
import torch.nn.functional as F

from nmt.tokenize.base import PAD_ID

CHUNK_TOKENS = 512  # target tokens projected to the vocabulary at a time by chunked_cross_entropy
ROWS_MULTIPLE = 128  # ... rounded up to a multiple of this: a few matmul shapes, not one per batch


class SmoothedCrossEntropy(torch.autograd.Function):
    """The summed label-smoothed cross-entropy (Szegedy et al. 2016) of logits (N, V) against gold ids (N,),
    rows whose gold is PAD_ID left out; in float32 from logits of any dtype, the gradient in the logits' dtype.

        loss  = -(1 - s) log p[gold] - s mean(log p)       per row, with log p = log_softmax(x)
        dloss = p - (1 - s) onehot(gold) - s / V

    F.cross_entropy(..., ignore_index=PAD_ID, label_smoothing=s, reduction="sum") in fewer passes over the
    (N, V) logits (tests/test_train.py): PyTorch's backward fills, scatters and adds (N, V) tensors, each a
    pass, and the fused log-softmax backward is slow on a CPU; in bf16 training on a Xeon with AMX these
    passes took several times the output layer's matmuls (docs/BENCHMARKS.md). Here the forward keeps the
    float32 log-probabilities and the backward turns them into the gradient in place, then casts it once.
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


def label_smoothed_cross_entropy(logits, target, smoothing):
    """Summed cross-entropy over non-pad targets, with probability `smoothing` spread uniformly
    over the vocabulary (Szegedy et al. 2016), in float32. logits (or log-probabilities): (B, T, V);
    target: (B, T)."""
    return SmoothedCrossEntropy.apply(logits.reshape(-1, logits.size(-1)), target.reshape(-1), smoothing)


def chunked_cross_entropy(states, target, project, parameters, smoothing, scale, chunk_tokens=CHUNK_TOKENS):
    """The label-smoothed loss of logits `project(states)` against `target` (a 0-d float32 tensor) whose
    `backward()` adds the gradients of `scale` x that loss to `states`' graph and to `parameters` (those of
    them `project` uses), projecting `chunk_tokens` real target positions at a time.

    The (tokens x vocabulary) logits, their log-softmax and its gradient never exist whole: they are
    most of a training step's peak memory. So the output layer's gradients are taken here, a chunk at a
    time, and the returned loss only hands them on: the caller's single backward pass then runs the rest of
    the model once (with DistributedDataParallel, one pass is what lets it reduce each gradient once).
    Padding positions never reach the output layer. The real positions are padded (zero vectors, ignored
    targets) to a multiple of ROWS_MULTIPLE: a matmul shape per count of real tokens made oneDNN build and
    keep a primitive, with its buffers, for nearly every update of bf16 training on a CPU (8 GiB resident at
    the end of the recipe's 20 minutes, against 2.4 GiB with the padding; docs/BENCHMARKS.md)."""
    real = target != PAD_ID
    gold, vectors = target[real], states[real]
    filler = -len(gold) % ROWS_MULTIPLE
    padded, padded_gold = F.pad(vectors.detach(), (0, 0, 0, filler)), F.pad(gold, (0, filler), value=PAD_ID)
    parameters = [p for p in parameters if p.requires_grad]
    loss, vector_grads, parameter_grads = states.new_zeros((), dtype=torch.float32), [], [None] * len(parameters)
    for part, part_gold in zip(padded.split(chunk_tokens), padded_gold.split(chunk_tokens)):
        part = part.requires_grad_()
        part_loss = SmoothedCrossEntropy.apply(project(part), part_gold, smoothing)
        part_grad, *found = torch.autograd.grad(part_loss * scale, [part, *parameters], allow_unused=True)
        vector_grads.append(part_grad)
        parameter_grads = [g if total is None else total if g is None else total.add_(g)
                           for total, g in zip(parameter_grads, found)]
        loss += part_loss.detach()
    used = [(p, g) for p, g in zip(parameters, parameter_grads) if g is not None]
    gradients = [torch.cat(vector_grads)[:len(gold)], *(g for _, g in used)]
    return WithGradients.apply(loss, gradients, vectors, *(p for p, _ in used))


class WithGradients(torch.autograd.Function):
    """`value`, whose gradients with respect to `inputs` were computed already (`gradients`, in order, each
    a tensor of its own: the backward pass scales them in place)."""

    @staticmethod
    def forward(ctx, value, gradients, *inputs):
        ctx.gradients = gradients
        return value.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        return None, None, *(g.mul_(grad) for g in ctx.gradients)

"""Training losses."""
import torch
import torch.nn.functional as F

from nmt.kernels import ops
from nmt.tokenize.base import PAD_ID

CHUNK_TOKENS = 512  # target tokens projected to the vocabulary at a time by chunked_cross_entropy


def label_smoothed_cross_entropy(logits, target, smoothing):
    """Summed cross-entropy over non-pad targets, with probability `smoothing` spread uniformly
    over the vocabulary (Szegedy et al. 2016), in float32 (`ops.smoothed_cross_entropy`). logits (or
    log-probabilities): (B, T, V); target: (B, T)."""
    return ops.smoothed_cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), smoothing)


def chunked_cross_entropy(states, target, project, parameters, smoothing, scale, chunk_tokens=CHUNK_TOKENS):
    """The label-smoothed loss of logits `project(states)` against `target` (a 0-d float32 tensor) whose
    `backward()` adds the gradients of `scale` x that loss to `states`' graph and to `parameters` (those of
    them `project` uses), projecting `chunk_tokens` real target positions at a time.

    The (tokens x vocabulary) logits, their log-softmax and its gradient never exist whole: they are
    most of a training step's peak memory. So the output layer's gradients are taken here, a chunk at a
    time, and the returned loss only hands them on: the caller's single backward pass then runs the rest of
    the model once (with DistributedDataParallel, one pass is what lets it reduce each gradient once).
    Padding positions never reach the output layer; the real ones may be padded (zero vectors, ignored
    targets) to `ops.padded_rows` rows, a few shapes for the CPU kernels' sake."""
    real = target != PAD_ID
    gold, vectors = target[real], states[real]
    filler = ops.padded_rows(len(gold)) - len(gold)
    padded, padded_gold = F.pad(vectors.detach(), (0, 0, 0, filler)), F.pad(gold, (0, filler), value=PAD_ID)
    parameters = [p for p in parameters if p.requires_grad]
    loss, vector_grads, parameter_grads = states.new_zeros((), dtype=torch.float32), [], [None] * len(parameters)
    for part, part_gold in zip(padded.split(chunk_tokens), padded_gold.split(chunk_tokens)):
        part = part.requires_grad_()
        part_loss = ops.smoothed_cross_entropy(project(part), part_gold, smoothing)
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

"""Training losses."""
import torch
import torch.nn.functional as F

from nmt.tokenize.base import PAD_ID

CHUNK_TOKENS = 1024  # target tokens projected to the vocabulary at a time by backward_in_chunks


def label_smoothed_cross_entropy(logits, target, smoothing):
    """Summed cross-entropy over non-pad targets, with probability `smoothing` spread uniformly
    over the vocabulary (Szegedy et al. 2016). logits: (B, T, V); target: (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), target.reshape(-1),
                           ignore_index=PAD_ID, label_smoothing=smoothing, reduction="sum")


def backward_in_chunks(states, target, project, smoothing, scale, chunk_tokens=CHUNK_TOKENS):
    """Backpropagate `scale` x the label-smoothed loss of logits `project(states)` against `target`, and
    return the loss (a 0-d tensor, detached), projecting `chunk_tokens` real target positions at a time.

    The (tokens x vocabulary) logits, their log-softmax and its gradient never exist whole: they are
    most of a training step's peak memory. Padding positions never reach the output layer."""
    real = target != PAD_ID
    gold, vectors = target[real], states[real]
    detached = vectors.detach().requires_grad_()
    total = states.new_zeros((), dtype=torch.float32)
    for part, part_gold in zip(detached.split(chunk_tokens), gold.split(chunk_tokens)):
        loss = F.cross_entropy(project(part).float(), part_gold, label_smoothing=smoothing, reduction="sum")
        (loss * scale).backward()
        total += loss.detach()
    vectors.backward(detached.grad)  # then the rest of the model, once
    return total

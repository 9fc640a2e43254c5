"""Training losses."""
import torch.nn.functional as F

from nmt.tokenize.base import PAD_ID


def label_smoothed_cross_entropy(logits, target, smoothing):
    """Summed cross-entropy over non-pad targets, with probability `smoothing` spread uniformly
    over the vocabulary (Szegedy et al. 2016). logits: (B, T, V); target: (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), target.reshape(-1),
                           ignore_index=PAD_ID, label_smoothing=smoothing, reduction="sum")

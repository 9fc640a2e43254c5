"""Length rules shared by every decoder: the output-length cap and the length penalty."""
import torch

from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID


def max_output_lengths(src_lengths, a, b, max_positions=None):
    """Most tokens (EOS excluded) a hypothesis may have: floor(a * source length + b), per sentence,
    and never more than the model has positions for (BOS takes one)."""
    limits = (src_lengths.float() * a + b).floor().long()
    return limits if max_positions is None else limits.clamp(max=max_positions - 1)


def length_penalty(lengths, alpha):
    """Wu et al. (2016): ((5 + |Y|) / 6) ** alpha; a hypothesis' score is its log-probability over this."""
    return ((5.0 + lengths) / 6.0) ** alpha


def constrain(log_probs, at_limit, eos=EOS_ID, never=(PAD_ID, BOS_ID)):
    """Rule out tokens no output may contain (padding, BOS); rows at their length cap may only end.

    A forced EOS keeps the model's own log-probability, so scores stay true probabilities.
    """
    log_probs = log_probs.clone()
    log_probs[:, list(never)] = float("-inf")
    if at_limit.any():
        only_eos = torch.full_like(log_probs, float("-inf"))
        only_eos[:, eos] = log_probs[:, eos]
        log_probs = torch.where(at_limit[:, None], only_eos, log_probs)
    return log_probs

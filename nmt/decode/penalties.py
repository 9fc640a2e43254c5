"""Length rules shared by every decoder: the output-length cap and the length penalty."""
import torch


def max_output_lengths(src_lengths, a, b, max_positions=None):
    """Most tokens (EOS excluded) a hypothesis may have: floor(a * source length + b), per sentence,
    and never more than the model has positions for (BOS takes one)."""
    limits = (src_lengths.float() * a + b).floor().long()
    return limits if max_positions is None else limits.clamp(max=max_positions - 1)


def length_penalty(lengths, alpha):
    """Wu et al. (2016): ((5 + |Y|) / 6) ** alpha; a hypothesis' score is its log-probability over this."""
    return ((5.0 + lengths) / 6.0) ** alpha


def force_eos_where(log_probs, at_limit, eos):
    """Rows that reached their length cap may only end: every token but EOS gets -inf."""
    if at_limit.any():
        forced = torch.full_like(log_probs[0], float("-inf"))
        forced[eos] = 0.0
        log_probs = torch.where(at_limit[:, None], forced, log_probs)
    return log_probs

"""Length rules shared by every decoder: the output-length cap and length normalisation of scores."""

LENGTH_NORMS = ("gnmt", "plain")  # how a finished hypothesis' log-probability is divided by its length


def max_output_lengths(src_lengths, a, b, max_positions=None):
    """Most tokens (EOS excluded) a hypothesis may have: floor(a * source length + b), per sentence,
    and never more than the model has positions for (BOS takes one)."""
    limits = (src_lengths.float() * a + b).floor().long()
    return limits if max_positions is None else limits.clamp(max=max_positions - 1)


def length_penalty(lengths, alpha, kind="gnmt"):
    """The divisor of a hypothesis' log-probability; `lengths` count EOS.

    gnmt:  Wu et al. (2016), ((5 + |Y|) / 6) ** alpha: the +5 keeps short outputs from swinging wildly.
    plain: |Y| ** alpha, length normalisation as fairseq's lenpen (alpha 1 = mean log-probability per token).
    """
    if kind == "gnmt":
        return ((5.0 + lengths) / 6.0) ** alpha
    if kind == "plain":
        return lengths ** alpha
    raise ValueError(f"unknown length normalisation {kind!r}: expected one of {', '.join(LENGTH_NORMS)}")

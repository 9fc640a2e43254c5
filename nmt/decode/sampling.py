"""Sampling decoder for back-translation and data augmentation: temperature, top-k and nucleus (top-p).

Every sentence draws from its own random generator, seeded from the user's seed and the sentence's
line number. So a sentence gets the same sample alone, in any batch, in any length-sorted order
and in any streamed chunk; and two equal input lines still get independent samples.
"""
import numpy as np
import torch

from nmt.decode.greedy import GreedySearch
from nmt.decode.rules import NEG_INF


def sentence_generator(seed, line):
    """The random generator of input line `line` (0-based) under `seed`."""
    state = np.random.SeedSequence([seed, line]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def filter_log_probs(log_probs, temperature, top_k, top_p):
    """Log-probabilities (rows, V) rescaled by temperature, with tokens outside top-k / top-p at -inf
    (unnormalised: sampling renormalises)."""
    scores = log_probs / temperature
    if top_k:
        kth = scores.topk(min(top_k, scores.size(-1)), dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, NEG_INF)
    if top_p < 1.0:
        sorted_scores, order = scores.sort(dim=-1, descending=True)
        probs = sorted_scores.softmax(dim=-1)
        # drop a token once the tokens before it already hold top_p; the most probable always stays
        outside = probs.cumsum(dim=-1) - probs >= top_p
        scores = scores.scatter(1, order, sorted_scores.masked_fill(outside, NEG_INF))
    return scores


def draw(scores, generators):
    """One token per row from softmax(scores), row i drawn by inverse CDF from generators[i]'s uniform."""
    uniforms = torch.stack([torch.rand((), generator=g) for g in generators]).to(scores.device)
    cdf = scores.softmax(dim=-1).cumsum(dim=-1)
    tokens = torch.searchsorted(cdf, (uniforms * cdf[:, -1])[:, None], right=True).squeeze(1)
    # right=True skips zero-probability tokens; rounding can put a uniform just past the last sum
    return tokens.clamp(max=scores.size(-1) - 1)


class SamplingSearch(GreedySearch):
    """Greedy search's loop with each token drawn at random; a row's score is its log-probability under
    the model (EOS included), before temperature and filtering."""

    def __init__(self, temperature=1.0, top_k=0, top_p=1.0, seed=0, **limits):
        super().__init__(**limits)
        self.temperature, self.top_k, self.top_p, self.seed = temperature, top_k, top_p, seed

    def start(self, state, caps, device, lines):
        self.generators = [sentence_generator(self.seed, line) for line in lines]
        return super().start(state, caps, device, lines)

    def pick(self, log_probs):
        tokens = draw(filter_log_probs(log_probs, self.temperature, self.top_k, self.top_p), self.generators)
        return log_probs.gather(1, tokens[:, None]).squeeze(1), tokens

"""Greedy decoding: the most probable next token at every step, for a whole batch at once."""
import torch

from nmt.decode.penalties import max_output_lengths
from nmt.decode.rules import SearchRules
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID


def greedy_search(model, src, max_len_a, max_len_b, rules=SearchRules()):
    """Token lists (EOS excluded) and their scores (log-probabilities, EOS included), one per source row."""
    return step_by_step(model, src, max_len_a, max_len_b, rules, pick=lambda log_probs: log_probs.max(dim=-1))


def step_by_step(model, src, max_len_a, max_len_b, rules, pick):
    """The loop greedy search and sampling share: `pick(log_probs)` -> (chosen log-probs, tokens) per row."""
    with model.generation_mode():
        limits = max_output_lengths((src != PAD_ID).sum(1), max_len_a, max_len_b, model.max_positions)
        caps = set(limits.tolist())  # on the CPU: which steps some row ends at, without asking the device
        state = model.encode(src)
        batch = src.size(0)
        prefixes = torch.full((batch, 1), BOS_ID, dtype=torch.long, device=src.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
        scores = torch.zeros(batch, device=src.device)
        for step in range(max(caps) + 1):
            log_probs, state = model.decode_step(prefixes[:, -1], state)
            chosen, tokens = pick(rules.apply(log_probs, prefixes, step, limits == step if step in caps else None))
            tokens = tokens.masked_fill(finished, PAD_ID)
            scores += chosen.masked_fill(finished, 0.0)
            prefixes = torch.cat([prefixes, tokens[:, None]], dim=1)
            finished |= tokens == EOS_ID
            if finished.all():
                break
        rows = prefixes[:, 1:].tolist()
    return [row[:row.index(EOS_ID)] for row in rows], scores.tolist()

"""Greedy decoding: the most probable next token at every step, for a whole batch at once."""
import torch

from nmt.decode.penalties import constrain, max_output_lengths
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID


def greedy_search(model, src, max_len_a, max_len_b):
    """Token lists (EOS excluded) and their log-probabilities (EOS included), one per source row."""
    with model.generation_mode():
        limits = max_output_lengths((src != PAD_ID).sum(1), max_len_a, max_len_b, model.max_positions)
        state = model.encode(src)
        batch = src.size(0)
        tokens = torch.full((batch,), BOS_ID, dtype=torch.long, device=src.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
        scores = torch.zeros(batch, device=src.device)
        outputs = []
        for step in range(int(limits.max()) + 1):
            log_probs, state = model.decode_step(tokens, state)
            log_probs = constrain(log_probs, limits == step)
            best, tokens = log_probs.max(dim=-1)
            tokens = tokens.masked_fill(finished, PAD_ID)
            scores += best.masked_fill(finished, 0.0)
            outputs.append(tokens)
            finished |= tokens == EOS_ID
            if finished.all():
                break
        rows = torch.stack(outputs, 1).tolist()
    return [row[:row.index(EOS_ID)] for row in rows], scores.tolist()

"""What a decoder may emit at the next step: one small function per rule, applied by `SearchRules`.

Every decoder (greedy, beam, sampling) calls `SearchRules.apply` on the model's log-probabilities
before choosing, so an option behaves the same whichever search runs.
"""
from dataclasses import dataclass

import torch

from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID, UNK_ID

NEG_INF = float("-inf")


def forbid_specials(log_probs):
    """No output contains padding or BOS."""
    for token in (PAD_ID, BOS_ID):  # one column at a time: a list index would be copied to the device
        log_probs[:, token] = NEG_INF
    return log_probs


def penalise_unknown(log_probs, penalty):
    """Subtract `penalty` from UNK's log-probability, so <unk> wins only when clearly best."""
    log_probs[:, UNK_ID] -= penalty
    return log_probs


def block_early_eos(log_probs, step, min_len):
    """No hypothesis ends before it has `min_len` tokens (step t decides token t + 1)."""
    if step < min_len:
        log_probs[:, EOS_ID] = NEG_INF
    return log_probs


def block_repeated_ngrams(log_probs, prefixes, n):
    """Forbid a token that would complete an n-gram the row's output already contains.

    prefixes: (rows, t + 1) tokens so far, BOS first (BOS never forms part of an n-gram).
    """
    outputs = prefixes[:, 1:].tolist()
    for row, tokens in enumerate(outputs):
        if len(tokens) < n:
            continue
        context = tuple(tokens[len(tokens) - n + 1:])
        banned = [tokens[i + n - 1] for i in range(len(tokens) - n + 1) if tuple(tokens[i:i + n - 1]) == context]
        log_probs[row, banned] = NEG_INF
    return log_probs


def force_eos(log_probs, model_log_probs, at_limit):
    """Rows at their length cap (`at_limit`, bool (rows,); None when no row is) may only end. The forced
    EOS keeps the model's own log-probability, so a capped hypothesis pays for its EOS like every other."""
    if at_limit is not None:
        only_eos = torch.full_like(log_probs, NEG_INF)
        only_eos[:, EOS_ID] = model_log_probs[:, EOS_ID]
        log_probs = torch.where(at_limit[:, None], only_eos, log_probs)
    return log_probs


@dataclass(frozen=True)
class SearchRules:
    min_len: int = 0          # tokens before EOS is allowed (the length cap still wins)
    no_repeat_ngram: int = 0  # 0 = off
    unk_penalty: float = 0.0  # subtracted from UNK's log-probability

    def apply(self, log_probs, prefixes, step, at_limit):
        """The log-probabilities (rows, V) a decoder chooses from at `step`; prefixes: (rows, step + 1);
        at_limit: which rows are at their length cap, None when none is (decoders know it on the CPU:
        asking the device would wait for it)."""
        allowed = forbid_specials(log_probs.clone())
        if self.unk_penalty:
            allowed = penalise_unknown(allowed, self.unk_penalty)
        if self.no_repeat_ngram:
            allowed = block_repeated_ngrams(allowed, prefixes, self.no_repeat_ngram)
        allowed = block_early_eos(allowed, step, self.min_len)
        return force_eos(allowed, log_probs, at_limit)

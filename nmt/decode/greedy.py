"""Greedy decoding: the most probable next token at every step, for a whole batch at once."""
import torch

from nmt.decode.search import Hypothesis, Search
from nmt.tokenize.base import EOS_ID, PAD_ID


class GreedySearch(Search):
    """One hypothesis a sentence, extended by `pick`; its score is its log-probability (EOS included)."""

    def start(self, state, caps, device, lines):
        self.begin(caps, device, rows_per_sentence=1)
        self.finished = torch.zeros(len(caps), dtype=torch.bool, device=device)
        self.scores = torch.zeros(len(caps), device=device)
        return state

    def pick(self, log_probs):
        """The chosen tokens' log-probabilities and the tokens, one per row."""
        return log_probs.max(dim=-1)

    def advance(self, log_probs, step):
        chosen, tokens = self.pick(log_probs)
        tokens = tokens.masked_fill(self.finished, PAD_ID)
        self.scores += chosen.masked_fill(self.finished, 0.0)
        self.prefixes = torch.cat([self.prefixes, tokens[:, None]], dim=1)
        self.finished |= tokens == EOS_ID
        self.done = bool(self.finished.all())
        return None

    def results(self):
        outputs = [row[:row.index(EOS_ID)] for row in self.prefixes[:, 1:].tolist()]
        return [[Hypothesis(tokens, score, score)] for tokens, score in zip(outputs, self.scores.tolist())]

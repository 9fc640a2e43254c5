"""What every search shares: the step loop, length caps and rules; the searches say how a step extends
their hypotheses.

`Search.run` encodes a batch and then, one position at a time, asks the model for the next token's
log-probabilities, applies the `SearchRules`, and hands them to the search's `advance`, which extends its
hypotheses and says which state rows they continue (`DecodingState.reorder`). Greedy search, beam search
and sampling are the subclasses (`greedy.py`, `beam.py`, `sampling.py`); `search_for` picks one from the
config's `decode` section.
"""
from dataclasses import dataclass

import torch

from nmt.decode.penalties import max_output_lengths
from nmt.decode.rules import SearchRules
from nmt.tokenize.base import BOS_ID, PAD_ID


@dataclass
class Hypothesis:
    tokens: list       # EOS excluded
    score: float       # what hypotheses are ranked by: log_prob, over a length penalty in beam search
    log_prob: float    # sum of token log-probabilities, EOS included


def to_device(values, device):
    """A list (or CPU tensor) as a tensor on `device`, without waiting for the work queued there, as a
    blocking copy would."""
    return torch.as_tensor(values).to(device, non_blocking=True)


class Search:
    """One way of choosing outputs. A subclass sets up a batch's hypotheses in `start`, extends them in
    `advance` and returns them from `results`; the loop and what ends when are shared. The settings are the
    object's for good, a batch's hypotheses until the next `run`: one object serves one batch at a time.

    Which hypotheses end is known on the CPU: each sentence's length cap is a number, and `advance` sets
    `done`. On a GPU every read of the device waits for the work queued there, so the loop reads nothing
    else."""

    def __init__(self, max_len_a=1.5, max_len_b=10, rules=SearchRules()):
        self.max_len_a, self.max_len_b, self.rules = max_len_a, max_len_b, rules

    def run(self, model, src, lines=None):
        """n-best lists of Hypotheses, best first, one per source row; row i is input line `lines[i]`
        (default: i), which only sampling reads."""
        with model.generation_mode():
            lengths = (src != PAD_ID).sum(1)
            caps = max_output_lengths(lengths, self.max_len_a, self.max_len_b, model.max_positions).tolist()
            state = self.start(model.encode(src), caps, src.device, range(len(src)) if lines is None else lines)
            for step in range(max(caps) + 1):
                log_probs, state = model.decode_step(self.prefixes[:, -1], state)
                rows = self.advance(self.rules.apply(log_probs, self.prefixes, step, self.at_limit(step)), step)
                if self.done:
                    break
                if rows is not None:
                    state = state.reorder(rows)
        return self.results()

    def begin(self, caps, device, rows_per_sentence):
        """The bookkeeping every search keeps: the live sentences, their caps, the prefixes (rows, t + 1)."""
        self.caps, self.sentences, self.group = caps, list(range(len(caps))), rows_per_sentence
        self.prefixes = torch.full((len(caps) * rows_per_sentence, 1), BOS_ID, dtype=torch.long, device=device)
        self.done = False

    def at_limit(self, step):
        """Which rows are at their length cap: bool (rows,) on the device, None when none is."""
        ending = [self.caps[s] == step for s in self.sentences]
        return to_device(ending, self.prefixes.device).repeat_interleave(self.group) if any(ending) else None

    def start(self, state, caps, device, lines):
        """Set up a batch of `len(caps)` sentences (`caps`: the most tokens each may have); returns the
        decoding state laid out in this search's rows."""
        raise NotImplementedError

    def advance(self, log_probs, step):
        """Extend the hypotheses by one token chosen from `log_probs` (rows, V), set `done` when every
        sentence is finished; returns the state rows the hypotheses now continue (None: each its own)."""
        raise NotImplementedError

    def results(self):
        raise NotImplementedError

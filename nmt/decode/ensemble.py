"""An ensemble of models behind the one `Seq2Seq` interface, so every decoder runs it unchanged.

A step's distribution is the mean of the members' probabilities, computed in log space as
logsumexp(log p_i) - log N (as fairseq does): the log of the average probability, so a
token one member rules out can still win when the others favour it.
"""
import math
from dataclasses import dataclass

import torch
from torch import nn

from nmt.errors import NmtError
from nmt.models.base import Seq2Seq


@dataclass(frozen=True)
class EnsembleState:
    """The members' decoding states side by side; a change of rows changes each the same way."""
    members: tuple

    def reorder(self, index, beams=None):
        return EnsembleState(tuple(state.reorder(index, beams) for state in self.members))

    def select(self, index):
        return EnsembleState(tuple(state.select(index) for state in self.members))


class Ensemble(Seq2Seq):
    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)
        limits = [m.max_positions for m in members if m.max_positions is not None]
        self.max_positions = min(limits) if limits else None

    def encode(self, src):
        return EnsembleState(tuple(member.encode(src) for member in self.members))

    def decode_step(self, prev_tokens, state):
        log_probs, states = zip(*(member.decode_step(prev_tokens, own)
                                  for member, own in zip(self.members, state.members)))
        return torch.stack(log_probs).logsumexp(dim=0) - math.log(len(self.members)), EnsembleState(states)


def check_same_vocabularies(tokenizers, model_dirs):
    """Ensemble members must read and write the same token ids: compare every piece of both sides."""
    first = tokenizers[0]
    for other, directory in zip(tokenizers[1:], model_dirs[1:]):
        for side in ("tgt", "src"):
            if getattr(first, side).pieces() != getattr(other, side).pieces():
                raise NmtError(f"--model {directory}: its {'target' if side == 'tgt' else 'source'} vocabulary "
                               f"differs from that of --model {model_dirs[0]}; an ensemble needs the same tokenizer")

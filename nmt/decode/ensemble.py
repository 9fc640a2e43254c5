"""An ensemble of models behind the one `Seq2Seq` interface, so every decoder runs it unchanged.

A step's distribution is the mean of the members' probabilities, computed in log space as
logsumexp(log p_i) - log N (as fairseq does): the log of the average probability, so a
token one member rules out can still win when the others favour it.
"""
import math

import torch
from torch import nn

from nmt.errors import NmtError
from nmt.models.base import Seq2Seq


class Ensemble(Seq2Seq):
    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)
        limits = [m.max_positions for m in members if m.max_positions is not None]
        self.max_positions = min(limits) if limits else None

    def encode(self, src):
        """One flat state: member i's tensor `name` is stored as `i/name` (all batch-first)."""
        return {f"{i}/{name}": t for i, m in enumerate(self.members) for name, t in m.encode(src).items()}

    def reorder_state(self, state, index, beams=None):
        """Each member reorders its own part (a member's `source:` tensors follow its own rules)."""
        reordered = {}
        for i, member in enumerate(self.members):
            own = member.reorder_state(self.own_state(state, i), index, beams)
            reordered.update({f"{i}/{name}": t for name, t in own.items()})
        return reordered

    @staticmethod
    def own_state(state, i):
        return {name.partition("/")[2]: t for name, t in state.items() if name.startswith(f"{i}/")}

    def decode_step(self, prev_tokens, state):
        log_probs, new_state = [], {}
        for i, member in enumerate(self.members):
            member_log_probs, own = member.decode_step(prev_tokens, self.own_state(state, i))
            log_probs.append(member_log_probs)
            new_state.update({f"{i}/{name}": t for name, t in own.items()})
        return torch.stack(log_probs).logsumexp(dim=0) - math.log(len(self.members)), new_state


def check_same_vocabularies(tokenizers, model_dirs):
    """Ensemble members must read and write the same token ids: compare every piece of both sides."""
    first = tokenizers[0]
    for other, directory in zip(tokenizers[1:], model_dirs[1:]):
        for side in ("tgt", "src"):
            if getattr(first, side).pieces() != getattr(other, side).pieces():
                raise NmtError(f"--model {directory}: its {'target' if side == 'tgt' else 'source'} vocabulary "
                               f"differs from that of --model {model_dirs[0]}; an ensemble needs the same tokenizer")

"""What every translation model offers: teacher forcing, encode, decode one step.

Decoders (greedy, beam, sampling) drive generation through `encode` and `decode_step` and
move hypotheses between rows through the `DecodingState` these return, so a model never
sees a beam. The input transformations both families apply (source reversal, word dropout)
live here too.
"""
import torch
from torch import nn

from nmt.tokenize.base import EOS_ID, PAD_ID, UNK_ID


def reverse_source_tokens(src):
    """Reverse each source sentence's tokens (Sutskever et al. 2014), keeping EOS last and padding after it.

    src: (B, S) right-padded ids, each row `w1 .. wn EOS PAD ..`; returns `wn .. w1 EOS PAD ..`.
    Models apply it at the start of encoding when `reverse_source` is set, so training,
    validation and translation all see the same order and an exported model records it.
    """
    lengths = (src != PAD_ID).sum(1, keepdim=True)                        # (B, 1) real tokens incl. EOS
    last = src.gather(1, (lengths - 1).clamp(min=0))                      # (B, 1) last real token
    n = lengths - (last == EOS_ID).long()                                 # (B, 1) tokens to reverse
    j = torch.arange(src.size(1), device=src.device).expand_as(src)       # (B, S) positions
    return src.gather(1, torch.where(j < n, n - 1 - j, j))


def word_dropout(tokens, p, training):
    """Replace each ordinary token (not PAD/UNK/BOS/EOS) by UNK with probability p, in training only
    (whole-word dropout: Gal & Ghahramani 2016, recommended for low resource by Sennrich & Zhang 2019)."""
    if not training or p == 0:
        return tokens
    drop = (torch.rand(tokens.shape, device=tokens.device) < p) & (tokens > EOS_ID)
    return tokens.masked_fill(drop, UNK_ID)


def _read_former_names(model, state_dict, prefix, *_):
    """Load-state-dict pre-hook: weights stored under a tensor's former name load as if under its name."""
    for name in model.state_dict(keep_vars=True):
        former = model.former_name(name)
        if former and prefix + name not in state_dict and prefix + former in state_dict:
            state_dict[prefix + name] = state_dict.pop(prefix + former)


class Seq2Seq(nn.Module):
    max_positions = None  # longest target a model can decode (None: no limit)
    # how scheduled sampling feeds this family its own predictions when train.scheduled_sampling.mode is
    # auto: two_pass (one teacher-forced pass predicts, a second reads the mix) suits parallel decoders
    scheduled_sampling_mode = "two_pass"

    def __init__(self):
        super().__init__()
        self.register_load_state_dict_pre_hook(_read_former_names)

    @staticmethod
    def former_name(name):
        """The name that weights written by earlier versions of nmt give the tensor `name`, or None if the
        same: checkpoints and model directories of those versions still load."""
        return None

    def forward(self, src, tgt_in):
        """Teacher forcing: logits (B, T, V) for every target position."""
        return self.project(self.decoder_states(src, tgt_in))

    def decoder_states(self, src, tgt_in):
        """Teacher forcing up to the output layer: (B, T, H) vectors, which `project` turns into logits
        (training projects only the real target positions, a slice at a time)."""
        raise NotImplementedError

    def project(self, states):
        """(..., H) decoder vectors -> (..., V) output scores."""
        raise NotImplementedError

    def encode(self, src):
        """The DecodingState after reading `src` (B, S): one row per source sentence."""
        raise NotImplementedError

    def decode_step(self, prev_tokens, state):
        """Log-probabilities (B, V) of the next token given the last one (B,); returns (log_probs, state)."""
        raise NotImplementedError

    def generation_mode(self):
        """Eval mode with gradients off: what every decoder runs under."""
        self.eval()
        return torch.inference_mode()

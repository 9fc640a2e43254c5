"""What every translation model offers: encode, decode one step, reorder its state.

Decoders (greedy, beam) drive generation through these three methods only, so a
model never sees a beam. Decoding state is a flat dict of tensors whose first
dimension is the batch, which lets `reorder_state` work for every model. The input
transformations both families apply (source reversal, word dropout) live here too.
"""
import torch
from torch import nn

from nmt.tokenize.base import EOS_ID, PAD_ID, UNK_ID


SOURCE = "source:"    # prefix of decoding-state tensors with one row per source sentence (see reorder_state)
HISTORY = "history:"  # prefix of decoding-state tensors that earlier steps wrote (see reorder_state)


def beams_per_source(state, rows, sources):
    """g when row r of the state reads source row r // g, the layout beam search keeps (sentence-major, g beams
    per sentence; greedy: g = 1), so a model may read the `sources` source rows once per group; else None.
    A state without `source_row` is in that layout (see `reorder_state`): g comes from the sizes alone."""
    if "source_row" not in state:
        return rows // sources
    if rows % sources:
        return None
    group = rows // sources
    layout = torch.arange(sources, device=state["source_row"].device).repeat_interleave(group)
    return group if torch.equal(state["source_row"], layout) else None  # a read of the device


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


class Seq2Seq(nn.Module):
    max_positions = None  # longest target a model can decode (None: no limit)
    # how scheduled sampling feeds this family its own predictions when train.scheduled_sampling.mode is
    # auto: two_pass (one teacher-forced pass predicts, a second reads the mix) suits parallel decoders
    scheduled_sampling_mode = "two_pass"

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
        """Decoding state (dict of batch-first tensors) after reading `src` (B, S)."""
        raise NotImplementedError

    def decode_step(self, prev_tokens, state):
        """Log-probabilities (B, V) of the next token given the last one (B,); returns (log_probs, state)."""
        raise NotImplementedError

    @staticmethod
    def reorder_state(state, index, beams=None):
        """Keep (and repeat) rows `index` of the state: beam reordering and pruning.

        Tensors named `source:...` (what a model computed once from the source) keep one row per
        sentence, however many rows (beams) read it. Row r reads source row r // g, g = rows / source
        rows, unless `state["source_row"]` says which one each row reads. They are never copied for
        beams, only compacted once sentences leave the batch.
        Tensors named `history:...` (what earlier steps wrote, e.g. a self-attention cache) are not
        moved at all: `state["history_row"]` says which of their rows each row continues, and the
        model gathers them once, at its next step, while it appends to them.

        `beams`: the caller keeps beam search's layout, `beams` rows per source row, the rows of each source
        together and in source order (new row r continues an old row of source r // beams). The state
        then stays without `source_row` and no value of `index` is read to the CPU; on a GPU each read is
        a wait. Any other `index` adds `source_row`."""
        per_row = {name: t for name, t in state.items() if not name.startswith((SOURCE, HISTORY))}
        kept = {name: t for name, t in state.items() if name.startswith(HISTORY)}
        sources = {name: t for name, t in state.items() if name.startswith(SOURCE)}
        if sources:
            count = len(next(iter(sources.values())))
            group = len(next(iter(per_row.values()))) // count  # the layout's g, where it holds
            if beams is None and "source_row" not in per_row:
                per_row["source_row"] = torch.arange(count, device=index.device).repeat_interleave(group)
        moved = {name: t.index_select(0, index) for name, t in per_row.items()}
        if sources:
            layout = "source_row" not in moved
            used = index[::beams] // group if layout else moved["source_row"].unique()  # ascending
            if len(used) < count:  # sentences left: compact
                sources = {name: t.index_select(0, used) for name, t in sources.items()}
                if not layout:
                    moved["source_row"] = torch.searchsorted(used, moved["source_row"])
        return {**moved, **kept, **sources}

    def generation_mode(self):
        """Eval mode with gradients off: what every decoder runs under."""
        self.eval()
        return torch.inference_mode()

"""Token-budget batches of similar-length pairs, and the padded tensors a model consumes."""
import typing
from dataclasses import dataclass

import numpy as np
import torch

from nmt.errors import NmtError
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID


@dataclass
class Batch:
    src: torch.Tensor       # (B, S) source ids + EOS, right-padded with PAD_ID
    tgt_in: torch.Tensor    # (B, T) BOS + target ids
    tgt_out: torch.Tensor   # (B, T) target ids + EOS: what the decoder must predict
    n_tgt_tokens: int       # real (non-pad) tokens in tgt_out

    @property
    def src_mask(self):     # True where the source holds a real token
        return self.src != PAD_ID

    def to(self, device, non_blocking=False):
        """On `device`; `non_blocking` from pinned memory, so the copy to a GPU overlaps its computation."""
        return self._each(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self):  # called by a DataLoader with pin_memory=True
        return self._each(torch.Tensor.pin_memory)

    def _each(self, change):
        """This batch with `change` applied to each of its tensors."""
        return Batch(change(self.src), change(self.tgt_in), change(self.tgt_out), self.n_tgt_tokens)

    def __len__(self):
        return self.src.size(0)

    @property
    def padded_tokens(self):
        """Positions the model computes on: sentences × the longer padded side."""
        return len(self) * max(self.src.size(1), self.tgt_in.size(1))

    def parts(self, max_tokens):
        """This batch in halves, quarters, ... until each part holds at most `max_tokens` padded tokens;
        whole when `max_tokens` is 0 or it fits, and a single sentence is never split."""
        if not max_tokens or self.padded_tokens <= max_tokens or len(self) == 1:
            return [self]
        return [part for half in self.halves() for part in half.parts(max_tokens)]

    def halves(self):
        """The first and second half of the sentences, as two Batches (for retrying after out-of-memory)."""
        middle = (len(self) + 1) // 2
        return [Batch(self.src[rows], self.tgt_in[rows], self.tgt_out[rows], int((self.tgt_out[rows] != PAD_ID).sum()))
                for rows in (slice(0, middle), slice(middle, None))]


def pad(sequences, value=PAD_ID):
    out = torch.full((len(sequences), max(len(s) for s in sequences)), value, dtype=torch.long)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = torch.as_tensor(np.asarray(s, dtype=np.int64))
    return out


def source_tensor(id_lists):
    """Padded (B, S) source ids, each sentence ending in EOS."""
    return pad([list(s) + [EOS_ID] for s in id_lists])


def padded_rows(split, indices, bos=False, eos=False):
    """Sentences `indices` of an EncodedSplit as a (B, L) PAD-padded id tensor, each with BOS before it and/or
    EOS after it: a few NumPy passes over the batch, not a tensor per sentence (those took 1-2 % of a bf16
    training update on a CPU)."""
    indices = np.asarray(indices)
    starts = split.offsets[indices]
    lengths = split.offsets[indices + 1] - starts
    position = np.arange(lengths.max() + bos + eos) - bos  # of each column in its sentence
    inside = (position >= 0) & (position < lengths[:, None])
    rows = np.full(inside.shape, PAD_ID, dtype=np.int64)
    rows[inside] = split.ids[(starts[:, None] + position)[inside]]
    if bos:
        rows[:, 0] = BOS_ID
    if eos:
        rows[np.arange(len(indices)), lengths + bos] = EOS_ID
    return torch.from_numpy(rows)


def make_batch(src_split, tgt_split, indices):
    tgt_out = padded_rows(tgt_split, indices, eos=True)
    return Batch(padded_rows(src_split, indices, eos=True), padded_rows(tgt_split, indices, bos=True), tgt_out,
                 n_tgt_tokens=int((tgt_out != PAD_ID).sum()))


def batch_ends(sorted_lengths, batch_tokens):
    """Where each batch ends in pairs sorted by length (non-decreasing), filled greedily: a batch takes the
    next pair while (its count + 1) x that pair's length stays within `batch_tokens`, and a pair longer than
    the budget goes alone. Lengths only grow along the order, so the pair that ends a batch is the first
    whose length x (its position in the batch + 1) exceeds the budget, found in a window of at most
    budget / (the batch's first length) pairs: a NumPy step per batch, not a Python step per pair."""
    ends, start, total = [], 0, len(sorted_lengths)
    while start < total:
        window = sorted_lengths[start + 1:start + 1 + batch_tokens // sorted_lengths[start]]
        over = window * np.arange(2, len(window) + 2) > batch_tokens
        start += 1 + (int(over.argmax()) if over.any() else len(window))
        ends.append(start)
    return ends


class Planned(typing.NamedTuple):
    """A batch of the plan: its place (`position` of the `batches` in `epoch`), its pairs, its longest pair."""
    epoch: int
    position: int
    batches: int
    indices: np.ndarray
    longest: int


class TokenBatchSampler:
    """Batches of indices whose padded size (sentences x longest side) stays within a token budget.

    Pairs are sorted by length (random tie-breaking) so a batch holds similar lengths and
    little padding; the batch order is shuffled each epoch. `pairs.epoch(e)` gives the (source,
    target) EncodedSplits of epoch e (nmt/data/resegment.py): the same every epoch, or a new
    segmentation with subword sampling, measured anew. Everything is a function of (seed, epoch),
    so `state()` / `load_state()` resume at the exact batch. Iteration yields (epoch, indices):
    the batch's ids are those of its epoch.

    A curriculum sets `length_limit` before each draw: batches holding a longer pair are passed
    over, and an epoch is a pass over the batches admitted as it goes. The limit is applied as a batch
    comes (`follow`), not when it is planned, so batches made ahead in loader workers are admitted exactly
    as batches made on demand.
    """

    def __init__(self, pairs, batch_tokens, seed):
        self.pairs, self.batch_tokens, self.seed = pairs, batch_tokens, seed
        self.epoch, self.position = 0, 0
        self.length_limit = None  # the longest pair a batch may hold; None = any
        self._plan_length = (None, 0)  # (epoch, its number of batches), for epochs_done()
        self._sorted_lengths = (None, None)  # (epoch, its pair lengths sorted), for sorted_lengths()

    def lengths(self, epoch):
        """Each pair's length in epoch `epoch`: its longer side + 1 (BOS/EOS)."""
        src, tgt = self.pairs.epoch(epoch)
        return np.maximum(src.lengths, tgt.lengths) + 1

    def batches_of_epoch(self, epoch, lengths=None):
        """The epoch's batches in the order they are drawn, each an array of pair indices (views of one
        array: no Python object per pair, so a plan of millions of pairs takes a second, not ten)."""
        lengths = self.lengths(epoch) if lengths is None else lengths
        rng = np.random.default_rng((self.seed, epoch))
        order = np.lexsort((rng.random(len(lengths)), lengths))
        ends = batch_ends(lengths[order], self.batch_tokens)
        batches = np.split(order, ends[:-1]) if ends else []
        return [batches[j] for j in rng.permutation(len(batches))]

    def plan(self):
        """Every batch from the cursor on, epoch after epoch, admitted or not: what a loader may make ahead
        of the training loop (nmt/data/loader.py). Reading the plan does not move the cursor."""
        def planned(epoch, position):
            while True:
                lengths = self.lengths(epoch)
                batches = self.batches_of_epoch(epoch, lengths)
                for p in range(position, len(batches)):
                    yield Planned(epoch, p, len(batches), batches[p], int(lengths[batches[p]].max()))
                epoch, position = epoch + 1, 0
        return planned(self.epoch, self.position)

    def follow(self, made):
        """Of `made`'s (Planned, item) pairs, in plan order from the cursor on, yield (epoch, item) for each
        batch the length limit admits at the moment it comes (the limit may change between draws), and
        move the cursor past every batch, admitted or passed over."""
        passed_over = 0  # batches skipped in a row: a whole epoch of them means nothing is admitted
        for planned, item in made:
            last = planned.position + 1 == planned.batches
            self.epoch, self.position = (planned.epoch + 1, 0) if last else (planned.epoch, planned.position + 1)
            if self.length_limit is None or planned.longest <= self.length_limit:
                passed_over = 0
                yield planned.epoch, item
            else:
                passed_over += 1
                if passed_over > planned.batches:
                    raise NmtError(f"train.curriculum: no training pair is within {self.length_limit} tokens")

    def __iter__(self):
        """(epoch, batch indices) of the admitted batches, forever; `self.epoch`/`self.position` track the
        next one."""
        return self.follow((planned, planned.indices) for planned in self.plan())

    def epochs_done(self):
        """Epochs completed, with the current one's share of batches: 2.5 halfway through the third."""
        if self.position == 0:  # no need to plan (with subword sampling: segment) an epoch that may never come
            return float(self.epoch)
        if self._plan_length[0] != self.epoch:
            self._plan_length = (self.epoch, len(self.batches_of_epoch(self.epoch)))
        return self.epoch + self.position / self._plan_length[1]

    def sorted_lengths(self):
        """The current epoch's pair lengths in increasing order (the competence curriculum's quantiles)."""
        if self._sorted_lengths[0] != self.epoch:
            self._sorted_lengths = (self.epoch, np.sort(self.lengths(self.epoch)))
        return self._sorted_lengths[1]

    def state(self):
        return {"epoch": self.epoch, "position": self.position}

    def load_state(self, state):
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

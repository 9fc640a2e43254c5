"""The training pairs' token ids in each epoch: what the batch sampler measures and batches are made of.

Without subword sampling every epoch reads the ids `nmt preprocess` stored. With `tokenizer.sampling`
(BPE-dropout, Provilkov et al. 2020; unigram sampling, Kudo 2018) each epoch re-segments the training
text preprocess kept beside them, seeded from (train.seed, epoch, side): an epoch's segmentation is a
pure function of those, so a resumed run re-creates it, and no ids go into checkpoints.
"""
from nmt.data import dataset
from nmt.data.corpus import read_lines
from nmt.data.dataset import EncodedSplit
from nmt.errors import NmtError


class StoredPairs:
    """The same (source, target) ids in every epoch."""

    def __init__(self, src, tgt):
        self.src, self.tgt = src, tgt

    def epoch(self, epoch):
        return self.src, self.tgt


class SampledPairs:
    """A new segmentation of the training text in every epoch, the same one for the same (seed, epoch)."""

    def __init__(self, src_path, tgt_path, tokenizers, alpha, seed):
        self.sides = ((tokenizers.src, src_path), (tokenizers.tgt, tgt_path))
        self.alpha, self.seed = alpha, seed
        self.recent = {}  # epoch -> its splits; two epochs, as one update may take batches from both

    def epoch(self, epoch):
        if epoch not in self.recent:
            self.recent = dict(list(self.recent.items())[-1:])
            self.recent[epoch] = tuple(self.segment(epoch, side) for side in range(2))
        return self.recent[epoch]

    def segment(self, epoch, side):
        tokenizer, path = self.sides[side]
        # the text is read each epoch rather than held: the trainer keeps only ids between epochs
        sampled = tokenizer.sample_batch(read_lines(path), self.alpha, seed=(self.seed, epoch, side))
        return EncodedSplit.from_sequences(sampled)


def training_pairs(run, tokenizers, sampling, seed):
    """The training pairs of run directory `run` (a RunDir): stored, or re-segmented with `sampling` > 0."""
    if not sampling:
        return StoredPairs(*dataset.load_split(run.data, "train"))
    paths = run.train_text("src"), run.train_text("tgt")
    if not all(path.is_file() for path in paths):
        raise NmtError(f"{run.data}: no training text to re-segment for tokenizer.sampling (preprocessed by an "
                       "older nmt); run `nmt preprocess` again")
    return SampledPairs(*paths, tokenizers, sampling, seed)

"""The training pairs' token ids in each epoch: what the batch sampler measures and batches are made of.

Without subword sampling every epoch reads the ids `nmt preprocess` stored. With `tokenizer.sampling`
(BPE-dropout, Provilkov et al. 2020; unigram sampling, Kudo 2018) each epoch re-segments the training
text preprocess kept beside them, seeded from (train.seed, epoch, side): an epoch's segmentation is a
pure function of those, so a resumed run re-creates it, and no ids go into checkpoints. Being one, the
next epoch is segmented in a worker process while this one trains, instead of in the training loop
when the epoch begins.
"""
import signal
from multiprocessing import get_context

from nmt.data import dataset
from nmt.data.corpus import read_lines
from nmt.data.dataset import EncodedSplit
from nmt.errors import NmtError


class StoredPairs:
    """The same (source, target) ids in every epoch."""

    readable_by_workers = True  # memory-mapped: a loader's worker processes read the same pages

    def __init__(self, src, tgt):
        self.src, self.tgt = src, tgt

    def epoch(self, epoch):
        return self.src, self.tgt

    def close(self):
        pass


class SampledPairs:
    """A new segmentation of the training text in every epoch, the same one for the same (seed, epoch)."""

    readable_by_workers = False  # an epoch's ids live in this process; a loader worker would segment it again

    def __init__(self, src_path, tgt_path, tokenizers, alpha, seed):
        self.sides = ((tokenizers.src, src_path), (tokenizers.tgt, tgt_path))
        self.alpha, self.seed = alpha, seed
        self.recent = {}  # epoch -> its splits; two epochs, as one update may take batches from both
        self.ahead = {}   # epoch -> the worker's result, for the epoch after the latest
        self.worker = None

    def epoch(self, epoch):
        if epoch not in self.recent:
            self.recent = dict(list(self.recent.items())[-1:])
            ahead = self.ahead.pop(epoch, None)
            self.recent[epoch] = ahead.get() if ahead else segment_epoch(self.sides, self.alpha, self.seed, epoch)
            self.segment_ahead(epoch + 1)
        return self.recent[epoch]

    def segment_ahead(self, epoch):
        if self.worker is None:
            # forked, so the worker inherits the tokenizers instead of receiving them pickled; it runs no torch
            self.worker = get_context("fork").Pool(1, initializer=_hold, initargs=(self.sides, self.alpha, self.seed))
        self.ahead = {epoch: self.worker.apply_async(_segment_held, (epoch,))}

    def close(self):
        """Stop the worker (it may be segmenting an epoch that will never come)."""
        if self.worker is not None:
            self.worker.terminate()
            self.worker.join()
            self.worker, self.ahead = None, {}


def segment_epoch(sides, alpha, seed, epoch):
    """Each side's (tokenizer, text path) segmented anew for `epoch`: (source, target) EncodedSplits."""
    # the text is read each epoch rather than held: the trainer keeps only ids between epochs
    return tuple(EncodedSplit.from_sequences(tokenizer.sample_batch(read_lines(path), alpha, seed=(seed, epoch, side)))
                 for side, (tokenizer, path) in enumerate(sides))


_held = None  # the worker's (sides, alpha, seed), set once when it starts


def _hold(*arguments):
    global _held
    _held = arguments
    # Ctrl-C reaches the whole process group: it is for the trainer, which finishes its update and saves; a
    # worker it killed would take the epoch being segmented with it, and the trainer would wait for it forever
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _segment_held(epoch):
    return segment_epoch(*_held, epoch)


def training_pairs(run, tokenizers, sampling, seed):
    """The training pairs of run directory `run` (a RunDir): stored, or re-segmented with `sampling` > 0."""
    if not sampling:
        return StoredPairs(*dataset.load_split(run.data, "train"))
    paths = run.train_text("src"), run.train_text("tgt")
    if not all(path.is_file() for path in paths):
        raise NmtError(f"{run.data}: no training text to re-segment for tokenizer.sampling (preprocessed by an "
                       "older nmt); run `nmt preprocess` again")
    return SampledPairs(*paths, tokenizers, sampling, seed)

"""The pieces `nmt preprocess` streams a corpus through: chunks of pairs, worker processes that clean and
encode them in order with a bounded number in flight, and flat arrays written as they grow.

A chunk is CHUNK_PAIRS pairs. With `--workers N` (N > 1) N processes take chunks as they come and the
results are consumed in corpus order; at most 2N chunks are read ahead, so memory holds a few chunks,
never the corpus. The results are the same for any number of workers and any chunk size
(tests/test_preprocess.py): everything a chunk returns is either per pair, kept in order, or a count
that sums.
"""
import collections
import concurrent.futures
import hashlib
import itertools
import os
import shutil
from collections import Counter
from dataclasses import dataclass

import numpy as np

from nmt import atomic
from nmt.data import dataset
from nmt.data.corpus import ParallelText, clean_training_pairs
from nmt.data.stats import SideCounts
from nmt.tokenize import load_tokenizers

CHUNK_PAIRS = 20_000
SIDES = ("src", "tgt")


def chunked(iterable, size):
    """Lists of `size` items of `iterable` (the last one shorter)."""
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class Workers:
    """`count` worker processes, each set up by `initializer(*initargs)`, or this process alone for a count
    of 1 (set up the same way). Use as a context manager."""

    def __init__(self, count, initializer=None, initargs=()):
        self.count, self.initializer, self.initargs = count, initializer, initargs
        self.pool = None

    def __enter__(self):
        if self.count > 1:
            self.pool = concurrent.futures.ProcessPoolExecutor(self.count, initializer=self.initializer,
                                                               initargs=self.initargs)
        elif self.initializer:
            self.initializer(*self.initargs)
        return self

    def __exit__(self, *exc):
        if self.pool:
            self.pool.shutdown(cancel_futures=True)

    def map(self, function, items):
        """function(item) for each item, in order, with at most twice as many items taken ahead as there are
        workers (the executor's own map would read every item first)."""
        if self.pool is None:
            yield from map(function, items)
            return
        pending = collections.deque()
        for item in items:
            pending.append(self.pool.submit(function, item))
            if len(pending) >= 2 * self.count:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


# --- cleaning ------------------------------------------------------------------------------------------

@dataclass
class CleanedChunk:
    src: list             # the kept pairs, normalised
    tgt: list
    src_words: np.ndarray  # each kept pair's source words (data.train_words subsamples by them)
    hashes: np.ndarray     # each kept pair's 64-bit hash (duplicate pairs are counted by them)
    dropped: Counter       # pairs dropped, by reason


def pair_hash(src, tgt):
    """A 64-bit hash of a pair: two distinct pairs share one with probability 2^-64, so a corpus of
    10M pairs miscounts its duplicates with probability below 10^-5."""
    return int.from_bytes(hashlib.blake2b(f"{src}\0{tgt}".encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little")


def clean_chunk(pairs, max_words, max_ratio):
    """Clean a chunk of raw (source, target) pairs (None for a side that was not valid UTF-8)."""
    valid = [(s, t) for s, t in pairs if s is not None and t is not None]
    cleaned, dropped = clean_training_pairs(ParallelText([s for s, _ in valid], [t for _, t in valid]),
                                            max_words, max_ratio)
    if len(valid) < len(pairs):
        dropped["invalid UTF-8"] += len(pairs) - len(valid)
    words = np.fromiter((len(s.split()) for s in cleaned.src), dtype=np.int32, count=len(cleaned.src))
    hashes = np.fromiter(map(pair_hash, cleaned.src, cleaned.tgt), dtype=np.uint64, count=len(cleaned.src))
    return CleanedChunk(cleaned.src, cleaned.tgt, words, hashes, dropped)


# --- encoding ------------------------------------------------------------------------------------------

_tokenizers = None  # each encoding worker's own copy, loaded once by use_tokenizers


def use_tokenizers(directory):
    global _tokenizers
    _tokenizers = load_tokenizers(directory)


@dataclass
class EncodedChunk:
    ids: tuple      # (source, target): each side's token ids, flat (int32)
    lengths: tuple  # (source, target): each sentence's token count
    counts: tuple   # (source, target): SideCounts


def encode_chunk(pairs):
    """Encode a chunk of (source, target) sentences with the tokenizers use_tokenizers loaded."""
    return encode_pairs(_tokenizers, pairs)


def encode_pairs(tokenizers, pairs):
    """(source, target) sentences encoded by `tokenizers`, as an EncodedChunk."""
    sides = []
    for tokenizer, sentences in ((tokenizers.src, [s for s, _ in pairs]), (tokenizers.tgt, [t for _, t in pairs])):
        ids = tokenizer.encode_batch(sentences)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(lengths.sum()))
        sides.append((flat, lengths, SideCounts.of(sentences, flat, lengths)))
    return EncodedChunk(*zip(*sides))


class FlatArrayWriter:
    """A one-dimensional .npy file written a piece at a time: the pieces go to a raw file beside it, and
    closing writes the header, whose shape is known only then, and copies them after it."""

    def __init__(self, path, dtype):
        self.path, self.dtype, self.length = path, np.dtype(dtype), 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self.raw = open(path.with_name(path.name + ".raw"), "wb")

    def write(self, values):
        values = np.asarray(values, dtype=self.dtype)
        self.raw.write(values.tobytes())
        self.length += len(values)

    def close(self):
        self.raw.close()
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.length,)}
        with atomic.atomic_path(self.path) as tmp, open(tmp, "wb") as out, open(self.raw.name, "rb") as raw:
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(raw, out, 1 << 24)
        os.remove(self.raw.name)


class EncodedSplitWriter:
    """A split's ids and offsets (nmt/data/dataset.py's files), written an EncodedChunk at a time."""

    def __init__(self, directory, name):
        self.ids = [FlatArrayWriter(dataset.split_file(directory, name, side, "ids"), np.int32) for side in SIDES]
        self.offsets = [FlatArrayWriter(dataset.split_file(directory, name, side, "offsets"), np.int64)
                        for side in SIDES]
        for offsets in self.offsets:
            offsets.write([0])
        self.tokens = [0, 0]

    def write(self, chunk):
        for side in range(2):
            self.ids[side].write(chunk.ids[side])
            self.offsets[side].write(self.tokens[side] + np.cumsum(chunk.lengths[side]))
            self.tokens[side] += int(chunk.lengths[side].sum())

    def close(self):
        """Finish the files; returns their paths."""
        writers = [writer for side in range(2) for writer in (self.ids[side], self.offsets[side])]
        for writer in writers:
            writer.close()
        return [writer.path for writer in writers]

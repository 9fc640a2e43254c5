"""`nmt preprocess`: read and clean the corpus (and keep a subset of `data.train_words`), learn subwords,
store token ids once, report statistics.

The training split streams through in chunks (nmt/data/streaming.py), so memory does not grow with the
corpus beyond what it keeps of each pair, 12 bytes (a hash for the duplicate count and a word count for
`data.train_words`), and their copies while they are joined and sorted:

    raw pairs, then data.extra's ─► clean (workers) ─► data/train.{src,tgt}.txt
              ─► (data.train_words: keep a seeded subset of the mix)
              ─► tokenizer, learned from a seeded sample of at most tokenizer.max_sentences lines
              ─► encode (workers) ─► data/train.{src,tgt}.{ids,offsets}.npy, statistics summed per chunk

The dev split is small and read whole.
"""
import functools
import json
import random
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from nmt import atomic
from nmt.data import dataset
from nmt.data.corpus import TextFile, iter_lines, iter_training_pairs, normalize, read_split
from nmt.data.stats import SideCounts, format_table, split_stats
from nmt.data.streaming import (CHUNK_PAIRS, EncodedSplitWriter, Workers, chunked, clean_chunk,
                                encode_chunk, encode_pairs, use_tokenizers)
from nmt.device import usable_cores
from nmt.errors import NmtError
from nmt.rundir import RunDir
from nmt.schema import dump_yaml
from nmt.tokenize import train_tokenizers
from nmt.tokenize.build import save_tokenizers

STATS = "stats.json"


@dataclass
class CleanedText:
    """What later steps need of the cleaned training pairs, whose text is in the run's data/train.*.txt."""
    src_words: np.ndarray  # per pair
    hashes: np.ndarray     # per pair
    dropped: Counter

    def __len__(self):
        return len(self.hashes)


def preprocess(cfg, run_dir, log=print, workers=0):
    """Fill `run_dir` with the tokenizer, encoded train/dev data, statistics and their manifest, cleaning
    and encoding the training split in `workers` processes (0: one per core)."""
    run = RunDir(run_dir)
    workers = workers or usable_cores()
    dataset.remove_manifest(run.root)  # nothing here is trusted until the new manifest is written
    train = clean_training_text(cfg.data, run, workers)
    train, subset = subsample_training_text(train, run, cfg.data)
    text = [TextFile(run.train_text(side), len(train)) for side in ("src", "tgt")]
    tags = sorted({extra.tag for extra in cfg.data.extra if extra.tag})
    tokenizers = train_tokenizers(cfg.tokenizer, *text, source_symbols=tags)  # a tag is always one piece
    save_tokenizers(tokenizers, run.tokenizer)
    log(f"tokenizer: {cfg.tokenizer.type}, vocab {tokenizers.src.vocab_size} (src) / "
        f"{tokenizers.tgt.vocab_size} (tgt), {'joint' if tokenizers.joint else 'separate'}")
    paths, train_counts = encode_training_text(run, workers)

    valid_raw = read_split(cfg.data, cfg.data.valid_split)
    valid = list(zip(map(normalize, valid_raw.src), map(normalize, valid_raw.tgt)))
    valid_drops = {"invalid UTF-8": valid_raw.skipped_invalid} if valid_raw.skipped_invalid else {}
    stats = {"train": split_stats(len(train), len(np.unique(train.hashes)), train.dropped, *train_counts),
             "valid": split_stats(len(valid), len(set(valid)), valid_drops, *encode_pairs(tokenizers, valid).counts)}
    if subset:
        stats["train"]["subsample"] = subset
    for line in format_table(stats):
        log(line)

    # dev references stay raw: BLEU compares detokenised output with the text as given
    atomic.write_lines(run.valid_text("src"), (s + "\n" for s, _ in valid))
    atomic.write_lines(run.valid_text("ref"), (t + "\n" for t in valid_raw.tgt))
    atomic.write_text(run.root / STATS, json.dumps(stats, indent=2))
    atomic.write_text(run.config, dump_yaml(cfg))
    # the training text is kept, so that subword sampling (tokenizer.sampling, also when first set at train
    # time) can re-segment it
    paths += [*(file.path for file in text), run.valid_text("src"), run.valid_text("ref"), run.root / STATS,
              *sorted(run.tokenizer.iterdir())]
    info = {"train_pairs": len(train), "dropped": stats["train"]["dropped"], "valid_pairs": len(valid),
            "src_vocab": tokenizers.src.vocab_size, "tgt_vocab": tokenizers.tgt.vocab_size}
    if subset:
        info["subsample"] = subset
    dataset.write_manifest(run.root, paths, info)
    return info


def clean_training_text(data_cfg, run, workers):
    """Clean the training pairs a chunk at a time into the run's data/train.{src,tgt}.txt; an error if
    nothing is left."""
    clean = functools.partial(clean_chunk, max_words=data_cfg.max_words, max_ratio=data_cfg.max_length_ratio)
    words, hashes, dropped = [], [], Counter()
    with ExitStack() as stack:
        outputs = [stack.enter_context(open(stack.enter_context(atomic.atomic_path(run.train_text(side))), "w",
                                            encoding="utf-8", newline="")) for side in ("src", "tgt")]
        pool = stack.enter_context(Workers(workers))
        for chunk in pool.map(clean, chunked(iter_training_pairs(data_cfg), CHUNK_PAIRS)):
            for output, sentences in zip(outputs, (chunk.src, chunk.tgt)):
                output.write("".join(s + "\n" for s in sentences))
            words.append(chunk.src_words)
            hashes.append(chunk.hashes)
            dropped.update(chunk.dropped)
    cleaned = CleanedText(np.concatenate(words), np.concatenate(hashes), dropped)
    if not len(cleaned):
        drops = ", ".join(f"{n} {why}" for why, n in sorted(dropped.items()))
        raise NmtError(f"{data_cfg.dir or data_cfg.hf_dataset}: no training pairs left after filtering "
                       f"(dropped {drops}; see data.max_words, data.max_length_ratio)")
    return cleaned


def subsample_indices(src_words, words, seed):
    """The pairs (sorted indices) that a seeded shuffle takes until their source words reach `words`. The
    last pair taken crosses the mark, so the subset has at least `words` source words and fewer than one
    sentence more (all pairs when the corpus is smaller). With one seed the shuffle is the same, so a
    smaller subset is part of a larger one."""
    order = list(range(len(src_words)))
    random.Random(seed).shuffle(order)
    order = np.array(order, dtype=np.int64)
    taken = min(len(order), int(np.searchsorted(np.cumsum(src_words[order]), words)) + 1)
    return np.sort(order[:taken])


def subsample_training_text(train, run, data_cfg):
    """The `data.train_words` subset of the cleaned pairs (the text files rewritten to hold it) and its record
    for stats and manifest (None when all pairs are kept). It comes before the tokenizer, which must not
    learn subwords from the rest."""
    if not data_cfg.train_words:
        return train, None
    kept = subsample_indices(train.src_words, data_cfg.train_words, data_cfg.subsample_seed)
    wanted = np.zeros(len(train), dtype=bool)
    wanted[kept] = True
    for side in ("src", "tgt"):
        path = run.train_text(side)
        atomic.write_lines(path, (line + "\n" for line, keep in zip(iter_lines(path), wanted) if keep))
    subset = {"train_words": data_cfg.train_words, "seed": data_cfg.subsample_seed, "pairs": len(kept),
              "words": int(train.src_words[kept].sum()), "of_pairs": len(train)}
    return CleanedText(train.src_words[kept], train.hashes[kept], train.dropped), subset


def encode_training_text(run, workers):
    """Encode the run's training text a chunk at a time into its ids and offsets files; returns their paths
    and each side's SideCounts."""
    pairs = zip(iter_lines(run.train_text("src")), iter_lines(run.train_text("tgt")))
    writer, counts = EncodedSplitWriter(run.data, "train"), (SideCounts(), SideCounts())
    with Workers(workers, use_tokenizers, (run.tokenizer,)) as pool:
        for chunk in pool.map(encode_chunk, chunked(pairs, CHUNK_PAIRS)):
            writer.write(chunk)
            for total, part in zip(counts, chunk.counts):
                total.add(part)
    return writer.close(), counts

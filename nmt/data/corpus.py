"""Reading parallel text (local files, or Hugging Face `datasets` through nmt/data/hub.py) and cleaning it.

Cleaning is NFC normalisation and whitespace collapsing for every split; the
length and ratio filters apply to training data only, and their drop counts are
reported per reason.
"""
import codecs
import itertools
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from nmt.data import hub
from nmt.errors import NmtError


@dataclass
class ParallelText:
    src: list
    tgt: list
    skipped_invalid: int = 0  # pairs dropped because a line was not valid UTF-8 (data.skip_invalid)


# control characters (NUL, escape, DEL, C1) carry no text; str.split() already treats the others as spaces
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_ENDED = object()  # what zip_longest gives for a file that has no more lines


def iter_lines(path, skip_invalid=False):
    """The lines of a UTF-8 text file one at a time, without line breaks (LF or CRLF) or a leading byte-order
    mark: a file of any size in little memory.

    A line that is not valid UTF-8 is an NmtError naming file and line, or None with `skip_invalid`.
    """
    path = Path(path)
    if not path.exists():
        raise NmtError(f"{path}: file not found")
    if not path.is_file():
        raise NmtError(f"{path}: is a directory, not a file")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            line = raw.removesuffix(b"\n").removesuffix(b"\r")
            if number == 1:
                line = line.removeprefix(codecs.BOM_UTF8)
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError as e:
                if not skip_invalid:
                    raise NmtError(f"{path}:{number}: not valid UTF-8 (byte {line[e.start]:#x})") from None
                yield None


def read_lines(path, skip_invalid=False):
    """The lines of a UTF-8 text file as a list (see iter_lines)."""
    return list(iter_lines(path, skip_invalid))


def normalize(line):
    """Unicode NFC, control characters as spaces, single spaces: the form every sentence takes
    before tokenisation."""
    return " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", line)).split())


class TextFile:
    """The lines of a text file of `length` lines, read again at each pass: a collection of sentences
    that memory does not hold."""

    def __init__(self, path, length):
        self.path, self.length = Path(path), length

    def __len__(self):
        return self.length

    def __iter__(self):
        return iter_lines(self.path)


def iter_parallel_files(directory, split, src_lang, tgt_lang, skip_invalid=False):
    """The (source, target) lines of a split's two files, in step; None for a line that is not valid UTF-8
    with `skip_invalid`. Files of different lengths or an empty one are an NmtError."""
    src_path = Path(directory) / f"{split}.{src_lang}"
    tgt_path = Path(directory) / f"{split}.{tgt_lang}"
    src, tgt = iter_lines(src_path, skip_invalid), iter_lines(tgt_path, skip_invalid)
    count = 0
    for pair in itertools.zip_longest(src, tgt, fillvalue=_ENDED):
        if _ENDED in pair:
            rest = 1 + sum(1 for _ in (src if pair[1] is _ENDED else tgt))
            lengths = (count + rest, count) if pair[1] is _ENDED else (count, count + rest)
            raise NmtError(f"{src_path} has {lengths[0]} lines but {tgt_path} has {lengths[1]}")
        count += 1
        yield pair
    if not count:
        raise NmtError(f"{src_path}: file is empty")


def iter_split(cfg, split):
    """The raw (source, target) pairs of the split of the corpus that `cfg` (a DataConfig) names, one at a
    time; None for a side that is not valid UTF-8 under `data.skip_invalid`."""
    if cfg.hf_dataset:
        return hub.iter_split(cfg.hf_dataset, cfg.hf_config, split, cfg.src_lang, cfg.tgt_lang)
    if not cfg.dir:
        raise NmtError("no data: set data.dir (or --data-dir) or data.hf_dataset")
    return iter_parallel_files(cfg.dir, split, cfg.src_lang, cfg.tgt_lang, cfg.skip_invalid)


def iter_training_pairs(cfg):
    """The raw pairs of the training split, then those of each `data.extra` corpus (its files named like the
    training split's) as often as its ratio says, the sources of a tagged one behind its tag."""
    yield from iter_split(cfg, cfg.train_split)
    for extra in cfg.extra:
        yield from _iter_extra(extra, cfg)


def _iter_extra(extra, cfg):
    """`extra.ratio` passes over the corpus; a fractional last one keeps each pair with that probability,
    seeded by data.subsample_seed, so that a rerun mixes the same pairs."""
    whole, fraction = divmod(extra.ratio, 1)
    passes = int(whole) + (1 if fraction else 0)
    draw = random.Random(cfg.subsample_seed).random
    for number in range(passes):
        partial = fraction and number == passes - 1
        for src, tgt in iter_parallel_files(extra.dir, cfg.train_split, cfg.src_lang, cfg.tgt_lang, cfg.skip_invalid):
            if partial and draw() >= fraction:
                continue
            if extra.tag and src and src.strip():
                src = f"{extra.tag} {src}"
            yield src, tgt


def read_split(cfg, split):
    """The split as a ParallelText, pairs with an invalid side left out and counted."""
    pairs = list(iter_split(cfg, split))
    kept = [(s, t) for s, t in pairs if s is not None and t is not None]
    return ParallelText([s for s, _ in kept], [t for _, t in kept], skipped_invalid=len(pairs) - len(kept))


def clean_training_pairs(text, max_words, max_ratio):
    """Normalise and filter training pairs; returns (ParallelText, Counter of drops by reason)."""
    dropped = Counter()
    src_out, tgt_out = [], []
    for s, t in zip(text.src, text.tgt):
        s, t = normalize(s), normalize(t)
        ns, nt = len(s.split()), len(t.split())
        if ns == 0 or nt == 0:
            dropped["empty"] += 1
        elif max(ns, nt) > max_words:
            dropped["too long"] += 1
        elif max(ns, nt) / min(ns, nt) > max_ratio:
            dropped["length ratio"] += 1
        else:
            src_out.append(s)
            tgt_out.append(t)
    return ParallelText(src_out, tgt_out), dropped

"""Reading parallel text (local files, or Hugging Face `datasets` through nmt/data/hub.py) and cleaning it.

Cleaning is NFC normalisation and whitespace collapsing for every split; the
length and ratio filters apply to training data only, and their drop counts are
reported per reason.
"""
import codecs
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


# invalid bytes decoded with errors="surrogateescape" become these lone surrogates, which valid UTF-8
# never produces: a line holding one was not valid UTF-8
_UNDECODABLE = re.compile("[\udc80-\udcff]")
# control characters (NUL, escape, DEL, C1) carry no text; str.split() already treats the others as spaces
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def read_lines(path, skip_invalid=False):
    """Lines of a UTF-8 text file, without line breaks (LF or CRLF) or a leading byte-order mark.

    A line that is not valid UTF-8 is an NmtError naming file and line, or None with `skip_invalid`.
    """
    text = _read_bytes(path).removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="surrogateescape")
    bad = _UNDECODABLE.search(text)
    if bad and not skip_invalid:
        line = text.count("\n", 0, bad.start()) + 1
        raise NmtError(f"{path}:{line}: not valid UTF-8 (byte {ord(bad.group()) - 0xdc00:#x})")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    lines = [line.removesuffix("\r") for line in lines]
    return [None if _UNDECODABLE.search(line) else line for line in lines] if bad else lines


def _read_bytes(path):
    path = Path(path)
    if not path.exists():
        raise NmtError(f"{path}: file not found")
    if not path.is_file():
        raise NmtError(f"{path}: is a directory, not a file")
    return path.read_bytes()


def normalize(line):
    """Unicode NFC, control characters as spaces, single spaces: the form every sentence takes
    before tokenisation."""
    return " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", line)).split())


def read_parallel_files(directory, split, src_lang, tgt_lang, skip_invalid=False):
    src_path = Path(directory) / f"{split}.{src_lang}"
    tgt_path = Path(directory) / f"{split}.{tgt_lang}"
    src, tgt = read_lines(src_path, skip_invalid), read_lines(tgt_path, skip_invalid)
    if len(src) != len(tgt):
        raise NmtError(f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}")
    if not src:
        raise NmtError(f"{src_path}: file is empty")
    pairs = [(s, t) for s, t in zip(src, tgt) if s is not None and t is not None]
    return ParallelText([s for s, _ in pairs], [t for _, t in pairs], skipped_invalid=len(src) - len(pairs))


def read_split(cfg, split):
    """The split of the corpus that `cfg` (a DataConfig) names."""
    if cfg.hf_dataset:
        return ParallelText(*hub.read_split(cfg.hf_dataset, cfg.hf_config, split, cfg.src_lang, cfg.tgt_lang))
    if not cfg.dir:
        raise NmtError("no data: set data.dir (or --data-dir) or data.hf_dataset")
    return read_parallel_files(cfg.dir, split, cfg.src_lang, cfg.tgt_lang, cfg.skip_invalid)


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

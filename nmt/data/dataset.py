"""Token ids stored once by `preprocess`, read (memory-mapped) by `train`.

A split is two flat int32 arrays (source and target ids, concatenated) and their
offsets; lengths come from the offsets. The run's `manifest.json` is written last and
lists each output file's SHA-256, size and modification time, so a preprocess killed midway leaves
nothing `train` accepts. Training checks sizes and times, and reads a file through to its hash only
where its time differs (a copied run directory, say): starting a run over gigabytes of ids on every
rank does not read them all.
"""
import hashlib
import json
from pathlib import Path

import numpy as np

from nmt import atomic
from nmt.errors import NmtError

MANIFEST = "manifest.json"


class EncodedSplit:
    """Variable-length id sequences of one side of a split, stored flat."""

    def __init__(self, ids, offsets):
        self.ids, self.offsets = ids, offsets

    @classmethod
    def from_sequences(cls, sequences):
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = np.fromiter((i for s in sequences for i in s), dtype=np.int32, count=int(offsets[-1]))
        return cls(ids, offsets)

    def __len__(self):
        return len(self.offsets) - 1

    def __getitem__(self, i):
        return self.ids[self.offsets[i]:self.offsets[i + 1]]

    @property
    def lengths(self):
        return np.diff(self.offsets)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def split_file(directory, name, side, part):
    """Where split `name`'s `side` (src | tgt) keeps its `part` (ids | offsets)."""
    return Path(directory) / f"{name}.{side}.{part}.npy"


def _stamp(path):
    """Size and modification time: what says a file was not touched, without reading it."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def write_manifest(root, paths, info):
    """Vouch for `paths` (hashes relative to `root`): written last, it marks the output complete."""
    root = Path(root)
    names = [str(Path(p).relative_to(root)) for p in paths]
    files = {name: _sha256(root / name) for name in names}
    stamps = {name: _stamp(root / name) for name in names}
    atomic.write_text(root / MANIFEST, json.dumps({"files": files, "stamps": stamps, **info}, indent=2))


def remove_manifest(root):
    (Path(root) / MANIFEST).unlink(missing_ok=True)


def _unchanged(file, digest, stamp):
    """Whether `file` is as preprocessing wrote it: the same size and time, or the same size and hash."""
    if not file.is_file():
        return False
    now = _stamp(file)
    if now == stamp:
        return True
    return (stamp is None or now[0] == stamp[0]) and _sha256(file) == digest


def verify_manifest(root):
    """The manifest's info after checking that every file it lists is there and unchanged."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise NmtError(f"{root}: no complete preprocessed data (run `nmt preprocess` first)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files, stamps = dict(manifest["files"]), dict(manifest.get("stamps", {}))  # older ones have none
    except (ValueError, KeyError, TypeError):
        raise NmtError(f"{path}: not a valid manifest; run `nmt preprocess` again") from None
    for name, digest in files.items():
        file = root / name
        if not _unchanged(file, digest, stamps.get(name)):
            raise NmtError(f"{file}: missing or changed since preprocessing; run `nmt preprocess` again")
    return manifest


def load_split(directory, name):
    """(src, tgt) EncodedSplits of split `name`, memory-mapped."""
    sides = []
    for side in ("src", "tgt"):
        parts = [np.load(split_file(directory, name, side, part), mmap_mode="r") for part in ("ids", "offsets")]
        sides.append(EncodedSplit(*parts))
    return tuple(sides)

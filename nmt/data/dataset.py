"""Token ids stored once by `preprocess`, read (memory-mapped) by `train`.

A split is two flat int32 arrays (source and target ids, concatenated) and their
offsets; lengths come from the offsets. The run's `manifest.json` is written last and
lists each output file's SHA-256, so a preprocess killed midway leaves nothing `train` accepts.
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


def _save_array(path, array):
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_split(directory, name, src, tgt):
    """Write the two sides of split `name`; returns the paths written."""
    paths = []
    for side, split in (("src", src), ("tgt", tgt)):
        for part in ("ids", "offsets"):
            path = Path(directory) / f"{name}.{side}.{part}.npy"
            _save_array(path, getattr(split, part))
            paths.append(path)
    return paths


def write_manifest(root, paths, info):
    """Vouch for `paths` (hashes relative to `root`): written last, it marks the output complete."""
    root = Path(root)
    files = {str(Path(p).relative_to(root)): _sha256(p) for p in paths}
    atomic.write_text(root / MANIFEST, json.dumps({"files": files, **info}, indent=2))


def remove_manifest(root):
    (Path(root) / MANIFEST).unlink(missing_ok=True)


def verify_manifest(root):
    """The manifest's info after checking that every file it lists is there and unchanged."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise NmtError(f"{root}: no complete preprocessed data (run `nmt preprocess` first)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = dict(manifest["files"])
    except (ValueError, KeyError, TypeError):
        raise NmtError(f"{path}: not a valid manifest; run `nmt preprocess` again") from None
    for name, digest in files.items():
        if not (root / name).is_file() or _sha256(root / name) != digest:
            raise NmtError(f"{root / name}: missing or changed since preprocessing; run `nmt preprocess` again")
    return manifest


def load_split(directory, name):
    """(src, tgt) EncodedSplits of split `name`, memory-mapped."""
    sides = []
    for side in ("src", "tgt"):
        parts = [np.load(Path(directory) / f"{name}.{side}.{part}.npy", mmap_mode="r") for part in ("ids", "offsets")]
        sides.append(EncodedSplit(*parts))
    return tuple(sides)

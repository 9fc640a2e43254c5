"""Where everything of a run lives. See docs/ARCHITECTURE.md for the layout."""
from pathlib import Path


class RunDir:
    def __init__(self, root):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    tokenizer = property(lambda self: self.root / "tokenizer")
    data = property(lambda self: self.root / "data")
    checkpoint = property(lambda self: self.root / "checkpoints" / "last.pt")
    best = property(lambda self: self.root / "best")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    tensorboard = property(lambda self: self.root / "tensorboard")
    valid = property(lambda self: self.root / "valid")

    def valid_text(self, side):
        """Raw dev-set text kept for validation: side 'src' (source) or 'ref' (reference)."""
        return self.data / f"valid.{side}.txt"

"""nmt: sequence-to-sequence neural machine translation on PyTorch."""

__version__ = "0.2.0"

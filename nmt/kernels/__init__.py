"""Speed kernels, each beside the reference operation it replaces.

The models call the operations of `ops` (dropout, attention, ...), never a kernel by name. `ops.use(kind)` picks
their implementations: "reference" (`reference.py`, PyTorch's own operations: what the models mean) or "auto" (the
kernels of `cpu.py`, `loss.py` and `decoding.py` where they apply, each falling back to the reference elsewhere).
`train.compute.kernels` chooses for a training run's process (its validation included); `nmt translate` and
`nmt serve` run "auto". Each kernel has a test that it computes what its reference computes
(tests/test_kernels.py) and a row in `scripts/benchmark_kernels.py` that times both.
"""
from nmt.kernels import cpu, decoding, loss, reference

KINDS = ("auto", "reference")
OPERATIONS = ("dropout", "add_dropout", "relu_dropout", "attention", "additive_scores", "residual_stream",
              "append_history", "smoothed_cross_entropy", "padded_rows")
KERNELS = {  # operation -> the kernel "auto" uses
    "dropout": cpu.dropout, "add_dropout": cpu.add_dropout, "relu_dropout": cpu.relu_dropout,
    "attention": cpu.attention, "additive_scores": cpu.additive_scores, "residual_stream": cpu.residual_stream,
    "append_history": decoding.append_history,
    "smoothed_cross_entropy": loss.smoothed_cross_entropy, "padded_rows": loss.padded_rows,
}


class Operations:
    """The operations the models call, bound to the implementations of one kind."""

    def __init__(self, kind="auto"):
        self.use(kind)

    def use(self, kind):
        if kind not in KINDS:
            raise ValueError(f"kernels must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind = kind
        for name in OPERATIONS:
            setattr(self, name, KERNELS[name] if kind == "auto" else getattr(reference, name))


ops = Operations()


#!/usr/bin/env python
"""Each kernel of nmt/kernels/ against its reference operation, timed on the Transformer recipe's shapes.

    python scripts/benchmark_kernels.py --out kernels.json [--repeat 20] [--threads 2]

Shapes: a 4,096-token batch as 32 sentences of 128 positions, d_model 256, 4 heads, feed-forward 1,024 (the
Multi30k recipe), the loss on one chunk of logits over 8,000 pieces; the history kernel at a beam-5 step of 64
sentences 20 positions in; additive attention scores on the low-resource BiLSTM's shapes (RNN_* below).
Training operations are timed forward and backward in training mode, in fp32 and under bf16 autocast on bf16
activations (the embeddings' fp32 for the residual stream); the median of `--repeat` timings after two warm-up
calls. Dropout draws differ between kernel and reference (each its own masks), so only their times compare
here; tests/test_kernels.py checks what they compute.
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from nmt.kernels import KERNELS, cpu, reference
from nmt.train.losses import CHUNK_TOKENS
from benchmark import machine  # the sibling script

SENTENCES, POSITIONS, D_MODEL, HEADS, FF, VOCAB = 32, 128, 256, 4, 1024, 8000
# the low-resource BiLSTM's additive attention over a whole target: a 1,000-token MAFAND batch as 25 sentences,
# 45 source and 40 target positions, hidden size 512
RNN_SENTENCES, RNN_SOURCE, RNN_TARGET, RNN_HIDDEN = 25, 45, 40, 512


def training_cases():
    """op -> (arguments, a function of the kernel or reference that runs it)."""
    x = torch.randn(SENTENCES, POSITIONS, D_MODEL)
    hidden = torch.randn(SENTENCES, POSITIONS, FF)
    q, k, v = (torch.randn(SENTENCES, HEADS, POSITIONS, D_MODEL // HEADS) for _ in range(3))
    mask = (torch.arange(POSITIONS) < POSITIONS - 16)[None, None, None, :].expand(SENTENCES, 1, 1, POSITIONS)
    logits, gold = torch.randn(CHUNK_TOKENS, VOCAB), torch.randint(4, VOCAB, (CHUNK_TOKENS,))
    score = torch.nn.Linear(RNN_HIDDEN, 1, bias=False)
    return {
        "dropout": ((x,), lambda op, x: op(x, 0.1, True)),
        "add_dropout": ((x, x.clone()), lambda op, r, x: op(r, x, 0.1, True)),
        "relu_dropout": ((hidden,), lambda op, h: op(h, 0.1, True)),
        "attention": ((q, k, v), lambda op, q, k, v: op(q, k, v, mask)),
        "additive_scores": ((torch.randn(RNN_SENTENCES, RNN_SOURCE, RNN_HIDDEN),
                             torch.randn(RNN_SENTENCES, RNN_TARGET, RNN_HIDDEN)),
                            lambda op, keys, queries: op(keys, queries, score)),
        "residual_stream": ((x,), lambda op, x: op(x) * 2),
        "smoothed_cross_entropy": ((logits,), lambda op, x: op(x, gold, 0.1)),
    }


def timed(run, repeat):
    for _ in range(2):
        run()
    timings = []
    for _ in range(repeat):
        tick = time.perf_counter()
        run()
        timings.append(time.perf_counter() - tick)
    return statistics.median(timings) * 1000


def forward_backward(call, op, tensors, precision, name):
    # in bf16 training the operations get bf16 activations, except the residual stream's start (embeddings)
    dtype = torch.bfloat16 if precision == "bf16" and name != "residual_stream" else torch.float32
    leaves = [t.to(dtype).requires_grad_() for t in tensors]

    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = call(op, *leaves)
        out.float().sum().backward()
    return run


def history_case():
    rows, head_size = SENTENCES * 5, D_MODEL // HEADS
    past, new = torch.randn(rows, HEADS, 20, head_size), torch.randn(rows, HEADS, 1, head_size)
    rows = torch.randint(0, rows, (rows,))
    return lambda op: (lambda: op(past, rows, new))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for precision in ("fp32", "bf16"):
        for name, (tensors, call) in training_cases().items():
            # the kernel itself, also where `ops` would fall back to the reference on this machine
            kernel = cpu.bf16_attention if name == "attention" and precision == "bf16" else KERNELS[name]
            ms = {kind: timed(forward_backward(call, op, tensors, precision, name), args.repeat)
                  for kind, op in (("reference", getattr(reference, name)), ("kernel", kernel))}
            rows.append({"operation": name, "precision": precision, "pass": "forward + backward", **ms})
    with torch.inference_mode():
        history = history_case()
        rows.append({"operation": "append_history", "precision": "fp32", "pass": "forward",
                     "reference": timed(history(reference.append_history), args.repeat),
                     "kernel": timed(history(KERNELS["append_history"]), args.repeat)})
    for row in rows:
        row.update(reference=round(row["reference"], 3), kernel=round(row["kernel"], 3),
                   speedup=round(row["reference"] / row["kernel"], 2))
        print(json.dumps(row), flush=True)
    report = {"machine": machine(), "threads": args.threads, "repeat": args.repeat, "unit": "ms", "rows": rows}
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

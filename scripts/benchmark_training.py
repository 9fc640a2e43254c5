#!/usr/bin/env python
"""Training speed of a finished run against the hardware: model FLOP/s over the same sitting's matmul FLOP/s.

    nmt train --config configs/multi30k_de_en_transformer.yaml --run-dir R --max-time 300
    python scripts/benchmark_training.py --run-dir R --out training.json

Target tokens/s and peak memory come from the run's metrics.jsonl (update time only, after step 50, as
scripts/benchmark.py reads them). FLOPs per target token are counted by torch.utils.flop_counter over the
run's own first updates (its config, data and batches, on its device): matrix products and the attention
kernels it knows, forward and backward, not elementwise work, the convention of model-FLOPs utilisation
(Chowdhery et al. 2022). The hardware's figure is the fastest of five timings of n x n by n x n matrix
products in the run's precision, in the same sitting (n = 2048 on a CPU: on the 2-core Xeon with AMX its
bf16 rate was above 4096's, 1.83 against 1.66 TFLOP/s, so the stricter limit). A profile of further updates
splits their time into kinds of work (self time of the operators by name; "Python, autograd and the rest"
is the wall time no operator accounts for) and names the operators that took the most.
The profile runs in this process: start it with LD_PRELOAD=libtcmalloc_minimal.so.4
ONEDNN_PRIMITIVE_CACHE_CAPACITY=256 where `nmt train` ran under tcmalloc (the environment nmt/allocator.py gives it).
"""
import argparse
import collections
import json
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from benchmark import machine, synchronize, training_figures  # the sibling script
from nmt.config import load_config
from nmt.train.loop import Trainer

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# kinds of work in a profile, by operator name (the first match wins); operators called by the optimizer's
# step are "optimizer" whatever their name; the rest is "elementwise and other"
KINDS = [("matrix products", ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_addmm_activation")),
         ("attention kernels", ("scaled_dot_product", "flash_attention", "efficient_attention", "cudnn_attention")),
         ("softmax", ("softmax",)),
         ("copies and casts", ("aten::copy_", "aten::_to_copy", "aten::clone", "aten::contiguous"))]


class NoModuleTracker:
    """FlopCounterMode's stand-in for its ModuleTracker, whose backward hooks refuse the loss's
    torch.autograd.grad inside a module's forward (torch 2.13); only the total is read here."""
    parents = ("Global",)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def flops_per_target_token(trainer, updates):
    """Counted over `updates` updates of the trainer's fresh model."""
    batches = iter(trainer.sampler)
    flops = tokens = 0
    for step in range(1, updates + 1):
        update = trainer.draw_update(batches)
        counter = FlopCounterMode(display=False)
        counter.mod_tracker = NoModuleTracker()
        with counter:
            trainer.update(update, step)
        flops += counter.get_total_flops()
        tokens += sum(batch.n_tgt_tokens for batch in update)
    return flops / tokens


def called_by_optimizer(event):
    while event is not None:
        if event.name.startswith("Optimizer.step#"):
            return True
        event = event.cpu_parent
    return False


def time_by_kind(trainer, updates, top=10):
    """Shares of the time of `updates` further updates by kind of work and of the `top` operators (CPU self
    time), and the seconds per update."""
    batches = iter(trainer.sampler)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if trainer.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        tick = time.perf_counter()
        for step in range(1, updates + 1):
            trainer.update(trainer.draw_update(batches), step)
        synchronize(trainer.device)
        wall = time.perf_counter() - tick
    seconds = {kind: 0.0 for kind, _ in KINDS} | {"optimizer": 0.0, "elementwise and other": 0.0}
    by_operator = collections.Counter()
    for event in prof.events():
        name = event.name.lower()
        if not name.startswith("aten::"):
            continue  # annotations and runtime calls: their aten:: operators are counted
        kind = ("optimizer" if called_by_optimizer(event) else
                next((kind for kind, names in KINDS if any(n in name for n in names)), "elementwise and other"))
        seconds[kind] += event.self_cpu_time_total / 1e6
        by_operator[event.name] += event.self_cpu_time_total / 1e6
    seconds["Python, autograd and the rest"] = wall - sum(seconds.values())
    shares = {kind: round(value / wall, 3) for kind, value in seconds.items()}
    return shares, {name: round(value / wall, 3) for name, value in by_operator.most_common(top)}, wall / updates


def matmul_flops_per_s(device, dtype, n, repeats, trials=5):
    """The fastest of `trials` timings of `repeats` products: what the hardware can do. A single timing moved
    from 1.06 to 1.68 TFLOP/s (bf16) between runs of one sitting on a 2-core Xeon (docs/BENCHMARKS.md,
    "Training speed and memory"): a slowed timing is noise, not a lower limit."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    a @ b  # warm-up
    rates = []
    for _ in range(trials):
        synchronize(device)
        tick = time.perf_counter()
        for _ in range(repeats):
            a @ b
        synchronize(device)
        rates.append(2 * n**3 * repeats / (time.perf_counter() - tick))
    return max(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--updates", type=int, default=20, help="updates whose FLOPs are counted, then profiled")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    training = training_figures(args.run_dir / "metrics.jsonl")
    trainer = Trainer(load_config(args.run_dir / "config.yaml"), args.run_dir)  # writes nothing until run()
    device, precision = trainer.device, trainer.precision  # "auto" resolved for this machine
    parameters = sum(p.numel() for p in trainer.model.parameters())
    per_token = flops_per_target_token(trainer, args.updates)
    shares, operators, seconds_per_update = time_by_kind(trainer, args.updates)
    n, repeats = (8192, 20) if device.type == "cuda" else (2048, 5)
    peak = {name: matmul_flops_per_s(device, DTYPES[name], n, repeats) for name in dict.fromkeys(["fp32", precision])}
    model_flops = training["train_tokens_per_s"] * per_token
    report = {"machine": machine(), "run_dir": str(args.run_dir), "device": str(device), "precision": precision,
              "parameters": parameters, "train_tokens_per_s": round(training["train_tokens_per_s"], 1),
              "steps": training["steps"], "peak_rss_mib": round(training["train_peak_rss_mib"]),
              "peak_gpu_mib": training.get("train_peak_gpu_mib"),
              "flops_per_target_token": round(per_token), "model_tflop_per_s": round(model_flops / 1e12, 4),
              "matmul": f"{n}x{n}x{n}, the fastest of 5 timings of {repeats} products",
              "matmul_tflop_per_s": {name: round(value / 1e12, 3) for name, value in peak.items()},
              "utilisation": round(model_flops / peak[precision], 4),
              "profiled_seconds_per_update": round(seconds_per_update, 4), "time_shares": shares,
              "top_operators": operators}
    print(json.dumps(report, indent=2))
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Resident memory of training, phase by phase: imports, the trainer built, each update, validation.

    python scripts/benchmark_memory.py --run-dir runs/multi30k_de_en_transformer --steps 20 \
        --set train.compute.precision=fp32 --out memory.json

The run directory must be preprocessed; the training happens in a copy of it (a temporary folder), so
the run is not touched. "current" is the resident set now, "peak" the most it has been (ru_maxrss).
It trains in this process, under this process's allocator: to measure what `nmt train` runs under where
tcmalloc is installed (nmt/allocator.py), start it with LD_PRELOAD=libtcmalloc_minimal.so.4
ONEDNN_PRIMITIVE_CACHE_CAPACITY=256, the environment that restart gives it.
"""
import argparse
import json
import resource
import shutil
import sys
import tempfile
from pathlib import Path


def rss_mib():
    current = int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20
    return {"current_mib": round(current), "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    phases = [("start", rss_mib())]
    import torch  # noqa: F401 (measured: what importing torch costs)
    phases.append(("import torch", rss_mib()))
    from nmt.config import load_config
    from nmt.train.loop import Trainer
    from nmt.train.update import Update
    from benchmark import machine, training_figures  # the sibling script
    phases.append(("import nmt's trainer", rss_mib()))

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(args.run_dir, run, ignore=shutil.ignore_patterns("checkpoints", "best", "tensorboard", "valid",
                                                                          "metrics.jsonl", "training.png"))
        cfg = load_config(run / "config.yaml", [*args.overrides, f"train.limits.max_steps={args.steps}",
                                                f"train.validation.every={args.steps}", "train.log_every=10"])
        trainer = Trainer(cfg, run)
        phases.append(("trainer built (model, data, tokenizer)", rss_mib()))
        one_update = Update.__call__

        def measured_update(self, batches, step):
            loss = one_update(self, batches, step)
            if step in (1, 2) or step % 10 == 0:
                phases.append((f"after update {step}", rss_mib()))
            return loss

        Update.__call__ = measured_update
        trainer.run()
        phases.append(("after validation and checkpoint", rss_mib()))
        tokens_per_s = training_figures(run / "metrics.jsonl", skip_steps=0)["train_tokens_per_s"]
    print(f"training tokens/s (logged windows): {tokens_per_s:,.0f}")
    for name, figures in phases:
        print(f"{name:<42} current {figures['current_mib']:6d} MiB   peak {figures['peak_mib']:6d} MiB")
    if args.out:
        args.out.write_text(json.dumps({"machine": machine(), "command": sys.argv, "phases": phases}, indent=2))


if __name__ == "__main__":
    main()

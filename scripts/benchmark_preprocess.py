#!/usr/bin/env python
"""Wall time and peak memory of `nmt preprocess` by corpus size and number of workers, written as JSON.

    python scripts/benchmark_preprocess.py --data-dir ../shared/data/multi30k --pairs 29000,1000000 \
        --workers 1,2 --out preprocess.json

A corpus of N pairs is Multi30k's training split repeated, each line made unique by a counter appended
to both sides (so duplicates, cleaning and the tokenizer see N distinct pairs), written once per size
under --work. Each (size, workers) cell runs `nmt preprocess` in a fresh process with the Transformer
recipe's settings and `--set` overrides (default: joint BPE of 32k learned on up to 1M sentences).
Peak RSS is ru_maxrss of the largest process (the main one or a worker), from the OS's accounting of
finished children.
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmark import machine  # the sibling script

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "multi30k_de_en_transformer.yaml"


def write_corpus(data_dir, out, pairs, src="de", tgt="en"):
    """`pairs` pairs of Multi30k's training split, repeated with a counter; the dev split as it is."""
    lines = [(data_dir / f"train.{lang}").read_text(encoding="utf-8").splitlines() for lang in (src, tgt)]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"train.{src}", "w", encoding="utf-8") as fs, open(out / f"train.{tgt}", "w", encoding="utf-8") as ft:
        for i in range(pairs):
            k = i % len(lines[0])
            fs.write(f"{lines[0][k]} {i}\n")
            ft.write(f"{lines[1][k]} {i}\n")
    for lang in (src, tgt):
        shutil.copy(data_dir / f"val.{lang}", out / f"val.{lang}")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="Multi30k ({train,val}.{de,en})")
    parser.add_argument("--pairs", default="29000,1000000", help="corpus sizes, comma-separated")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--work", type=Path, default=Path("/tmp/nmt_preprocess_benchmark"))
    parser.add_argument("--set", dest="overrides", action="append",
                        default=["tokenizer.vocab_size=32000", "tokenizer.max_sentences=1000000"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    report = {"machine": machine(), "config": str(RECIPE.name), "overrides": args.overrides, "cells": []}
    for pairs in map(int, args.pairs.split(",")):
        corpus = write_corpus(args.data_dir, args.work / f"corpus{pairs}", pairs)
        for workers in map(int, args.workers.split(",")):
            run = args.work / f"run{pairs}_{workers}"
            shutil.rmtree(run, ignore_errors=True)
            # each cell in a process of its own, whose own children's peak this process reads after it
            probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
                     "r = subprocess.run(sys.argv[1:]); "
                     "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
            command = [sys.executable, "-m", "nmt.cli", "preprocess", "--config", str(RECIPE), "--data-dir", str(corpus),
                       "--run-dir", str(run), "--workers", str(workers),
                       *[f"--set={override}" for override in args.overrides]]
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True)
            seconds, peak_kib, code = result.stdout.split()
            cell = {"pairs": pairs, "workers": workers, "seconds": round(float(seconds), 1),
                    "peak_rss_mib": round(int(peak_kib) / 1024), "returncode": int(code),
                    "wall_with_startup_s": round(time.perf_counter() - started, 1),
                    "stats_tail": result.stderr.strip().splitlines()[-4:]}
            report["cells"].append(cell)
            print(json.dumps(cell), flush=True)
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

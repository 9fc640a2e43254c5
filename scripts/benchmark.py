#!/usr/bin/env python
"""Measure a trained run the way docs/benchmarks.md asks, and write the raw figures as JSON.

    python scripts/benchmark.py --run-dir runs/multi30k_de_en_transformer \
        --data-dir ../shared/data/multi30k --out bench.json

Training figures come from the run's metrics.jsonl (tokens/s over the windows after step 50);
decoding figures are measured here on SPLIT (model loading excluded), greedy and beam 5.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import time
from pathlib import Path

import sacrebleu
import sentencepiece
import torch

import nmt
from nmt.data.corpus import read_lines
from nmt.decode.translate import Translator
from nmt.evaluate import score_corpus
from nmt.export import load_model


def training_figures(metrics_path, skip_steps=50):
    events = [json.loads(line) for line in open(metrics_path, encoding="utf-8")]
    train = [e for e in events if e["event"] == "train"]
    window = [e for e in train if e["step"] > skip_steps]
    valid = [e for e in events if e["event"] == "valid"]
    return {
        "steps": train[-1]["step"] if train else 0,
        "epochs_completed": train[-1]["epoch"] if train else 0,
        "elapsed_s": valid[-1]["elapsed"] if valid else None,
        "train_tokens_per_s": sum(e["window_tokens"] for e in window) / sum(e["window_seconds"] for e in window),
        "train_peak_rss_mib": max(e["peak_rss_mib"] for e in train),
        "train_peak_gpu_mib": max((e["peak_gpu_mib"] for e in train if "peak_gpu_mib" in e), default=None),
        "validations": [{"step": e["step"], "bleu": round(e["bleu"], 2), "seconds": round(e["seconds"], 1)}
                        for e in valid],
    }


def decoding_figures(model_dir, sources, references, beam, batch_size):
    torch.set_num_threads(os.cpu_count())
    model, tokenizers, decode = load_model(model_dir)
    translator = Translator(model, tokenizers, "cpu", decode, beam=beam, batch_size=batch_size)
    tick = time.perf_counter()
    results = translator.translate_nbest(sources)
    seconds = time.perf_counter() - tick
    hypotheses = [nbest[0].text for nbest in results]
    tokens = sum(len(nbest[0].tokens) + 1 for nbest in results)  # + EOS
    scores = score_corpus(hypotheses, references)
    return {"beam": beam, "lenpen": decode.lenpen, "seconds": round(seconds, 2),
            "sentences_per_s": round(len(sources) / seconds, 1), "tokens_per_s": round(tokens / seconds, 1),
            "bleu": round(scores["bleu"]["score"], 2), "chrf": round(scores["chrf"]["score"], 2),
            "bleu_signature": scores["bleu"]["signature"]}, hypotheses


def synchronize(device):
    """Wait for the GPU's queued work, so that a timer read after it covers that work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    # the commit of the nmt code imported (a worktree on PYTHONPATH, say), not of the working directory;
    # "-dirty" when its files differ from that commit (a copied tree on another machine, say)
    commit = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], capture_output=True, text=True,
                            cwd=Path(nmt.__file__).parent).stdout.strip()
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpu": cpu, "nproc": os.cpu_count(), "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "python": platform.python_version(), "torch": torch.__version__,
            "sentencepiece": sentencepiece.__version__, "sacrebleu": sacrebleu.__version__, "git_commit": commit,
            # the allocator, where one was preloaded, and the oneDNN cache nmt's tcmalloc restart sets
            "ld_preload": os.environ.get("LD_PRELOAD", ""),
            "onednn_primitive_cache": os.environ.get("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--split", default="test_2016_flickr")
    parser.add_argument("--src", default="de")
    parser.add_argument("--tgt", default="en")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sources = read_lines(args.data_dir / f"{args.split}.{args.src}")
    references = read_lines(args.data_dir / f"{args.split}.{args.tgt}")
    report = {"machine": machine(), "run_dir": str(args.run_dir), "split": args.split,
              "training": training_figures(args.run_dir / "metrics.jsonl"), "decoding": []}
    for beam in (1, 5):
        figures, hypotheses = decoding_figures(args.run_dir / "best", sources, references, beam, args.batch_size)
        report["decoding"].append(figures)
        (args.run_dir / f"{args.split}.beam{beam}.{args.tgt}").write_text("".join(h + "\n" for h in hypotheses))
    report["decoding_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

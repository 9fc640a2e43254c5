#!/usr/bin/env python
"""Decoding speed and BLEU of one exported model, engine against engine, in one sitting.

    python scripts/benchmark_decoding.py --model runs/multi30k_de_en_transformer/best \
        --data-dir ../shared/data/multi30k --out decoding.json [--device cuda] [--batch 64] [--repeat 5] \
        [--engines nmt-fp32 nmt-int8 CTranslate2-int8]

Engines on a CPU: nmt in fp32, bf16 weights (`--dtype bf16`) and dynamic int8 (`--quantize int8`),
and CTranslate2 in float32 and int8 on the model exported by `nmt export --format ctranslate2`.
On a GPU: nmt in fp32, bf16 and fp16, CTranslate2 in float32, float16 and int8_float16.
Every engine gets the same threads, the same sentences per batch, the same beam and the same plain
length normalisation score / |Y|^alpha (CTranslate2's `length_penalty`; nmt's `length_norm: plain`).
Times are generation only: model loading and export are outside; tokenisation is inside for both.
Each engine runs alone in a process of its own: in one process, the thread pools of an engine that has run
(CTranslate2's, PyTorch's) slow the next one (nmt greedy ran at half speed after CTranslate2 had run).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from nmt.data.corpus import normalize, read_lines
from nmt.decode.precision import cast_weights, quantize_int8
from nmt.decode.translate import Translator
from nmt.evaluate import score_corpus
from nmt.export import load_model
from benchmark import machine, synchronize  # the sibling script

ALPHA = 1.0
ENGINES = {"cpu": [("nmt", "fp32"), ("nmt", "bf16"), ("nmt", "int8"),
                   ("CTranslate2", "float32"), ("CTranslate2", "int8")],
           "cuda": [("nmt", "fp32"), ("nmt", "bf16"), ("nmt", "fp16"),
                    ("CTranslate2", "float32"), ("CTranslate2", "float16"), ("CTranslate2", "int8_float16")]}


def nmt_engine(model_dir, precision, device, batch):
    model, tokenizers, decode = load_model(model_dir)
    if precision == "int8":
        model = quantize_int8(model, device)
    else:
        model = cast_weights(model, precision, device)
    model = model.to(device)

    def translate(sources, beam):
        translator = Translator(model, tokenizers, device, decode, beam=beam, batch_size=batch,
                                lenpen=ALPHA, length_norm="plain")
        return [nbest[0].text for nbest in translator.translate_nbest(sources)]
    return translate


def ctranslate2_engine(model_dir, compute_type, device, threads, batch):
    import ctranslate2
    import sentencepiece as spm

    from nmt.export_ctranslate2 import export_ctranslate2

    out = Path(tempfile.mkdtemp()) / "ct2"
    export_ctranslate2(model_dir, out)
    translator = ctranslate2.Translator(str(out), device=device, compute_type=compute_type,
                                        inter_threads=1, intra_threads=threads)
    names = json.loads((out / "tokenizer" / "tokenizer.json").read_text())
    src = spm.SentencePieceProcessor(model_file=str(out / "tokenizer" / names["src"]))
    tgt = spm.SentencePieceProcessor(model_file=str(out / "tokenizer" / names["tgt"]))

    def translate(sources, beam):
        pieces = [src.encode(normalize(line), out_type=str) for line in sources]
        cap = int(1.5 * (max(len(p) for p in pieces) + 1) + 10)  # nmt's a|x| + b for the longest input
        results = translator.translate_batch(pieces, beam_size=beam, length_penalty=ALPHA, max_batch_size=batch,
                                             max_decoding_length=cap, min_decoding_length=0)
        return [tgt.decode(r.hypotheses[0]) for r in results]
    return translate


def measure(translate, sources, references, beam, batch, device, repeat):
    """Speed and BLEU of translating `sources`; the time is the median of `repeat` passes (on a GPU one
    pass of this test set takes a few tenths of a second and single passes of one build varied by 30 %)."""
    translate(sources[:batch], beam)  # warm-up: first-call allocations stay out of the figure
    timings = []
    for _ in range(repeat):
        synchronize(device)
        tick = time.perf_counter()
        hypotheses = translate(sources, beam)
        synchronize(device)
        timings.append(time.perf_counter() - tick)
    seconds = statistics.median(timings)
    scores = score_corpus(hypotheses, references)
    words = sum(len(h.split()) for h in hypotheses)
    return {"beam": beam, "seconds": round(seconds, 3), "timings": [round(t, 3) for t in timings],
            "sentences_per_s": round(len(sources) / seconds, 1),
            "target_words_per_s": round(words / seconds, 1), "bleu": round(scores["bleu"]["score"], 2),
            "bleu_signature": scores["bleu"]["signature"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--split", default="test_2016_flickr")
    parser.add_argument("--src", default="de")
    parser.add_argument("--tgt", default="en")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", choices=sorted(ENGINES), default="cpu")
    parser.add_argument("--batch", type=int, default=64, help="sentences per batch, every engine")
    parser.add_argument("--repeat", type=int, default=1, help="timed passes over the test set; the median counts")
    parser.add_argument("--engines", nargs="+", metavar="ENGINE-PRECISION",
                        help="only these, e.g. nmt-int8 CTranslate2-int8 (default: all of the device's)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    available = {f"{engine}-{precision}".lower(): (engine, precision) for engine, precision in ENGINES[args.device]}
    unknown = [e for e in args.engines or [] if e.lower() not in available]
    if unknown:
        parser.error(f"no engine {', '.join(unknown)} on {args.device}; choose from {', '.join(available)}")
    chosen = [available[e.lower()] for e in args.engines] if args.engines else list(available.values())
    if len(chosen) > 1:
        return measure_each_alone(chosen, args)
    torch.set_num_threads(args.threads)
    sources = read_lines(args.data_dir / f"{args.split}.{args.src}")
    references = read_lines(args.data_dir / f"{args.split}.{args.tgt}")
    engines, failed = {}, []
    for engine, precision in chosen:
        try:  # an engine that cannot run here (CTranslate2 without its CUDA libraries) is reported, not fatal
            engines[f"{engine} {precision}"] = (
                nmt_engine(args.model, precision, args.device, args.batch) if engine == "nmt" else
                ctranslate2_engine(args.model, precision, args.device, args.threads, args.batch))
        except Exception as e:
            failed.append({"engine": f"{engine} {precision}", "error": f"{type(e).__name__}: {e}"})
            print(json.dumps(failed[-1]), flush=True)
    report = {"machine": machine(), "model": str(args.model), "split": args.split, "threads": args.threads,
              "device": args.device, "batch": args.batch, "repeat": args.repeat, "length_penalty": ALPHA,
              "failed": failed, "rows": []}
    for beam in (5, 1):
        for name, translate in engines.items():
            try:
                row = {"engine": name, **measure(translate, sources, references, beam, args.batch, args.device,
                                                       args.repeat)}
            except Exception as e:  # e.g. a CUDA library CTranslate2 loads only at its first batch
                row = {"engine": name, "beam": beam, "error": f"{type(e).__name__}: {e}"}
            report["rows"].append(row)
            print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps(report, indent=2))


def measure_each_alone(chosen, args):
    """This script once per engine, each in a fresh process, the reports merged into one."""
    shared = ["--model", args.model, "--data-dir", args.data_dir, "--split", args.split, "--src", args.src,
              "--tgt", args.tgt, "--threads", args.threads, "--device", args.device, "--batch", args.batch,
              "--repeat", args.repeat]
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        for engine, precision in chosen:
            out = Path(tmp) / f"{engine}-{precision}.json"
            subprocess.run([sys.executable, __file__, *map(str, shared), "--engines", f"{engine}-{precision}",
                            "--out", str(out)], check=True)
            reports.append(json.loads(out.read_text()))
    merged = reports[0] | {key: [item for report in reports for item in report[key]] for key in ("failed", "rows")}
    args.out.write_text(json.dumps(merged, indent=2))


if __name__ == "__main__":
    main()

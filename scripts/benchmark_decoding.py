#!/usr/bin/env python
"""Decoding speed and BLEU of one exported model, engine against engine, in one sitting.

    python scripts/benchmark_decoding.py --model runs/multi30k_de_en_transformer/best \
        --data-dir ../shared/data/multi30k --out decoding.json

Engines: nmt in fp32, bf16 weights (`--dtype bf16`) and dynamic int8 (`--quantize int8`),
and CTranslate2 in float32 and int8 on the model exported by `nmt export --format ctranslate2`.
Every engine gets the same threads, 64 sentences a batch, the same beam and the same plain length
normalisation score / |Y|^alpha (CTranslate2's `length_penalty`; nmt's `length_norm: plain`).
Times are generation only: model loading and export are outside; tokenisation is inside for both.
"""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from nmt.data.corpus import normalize, read_lines
from nmt.decode.precision import cast_weights, quantize_int8
from nmt.decode.translate import Translator
from nmt.evaluate import score_corpus
from nmt.export import load_model
from benchmark import machine  # the sibling script

BATCH, ALPHA = 64, 1.0


def nmt_engine(model_dir, precision):
    model, tokenizers, decode = load_model(model_dir)
    if precision == "int8":
        model = quantize_int8(model, "cpu")
    elif precision == "bf16":
        model = cast_weights(model, "bf16", "cpu")

    def translate(sources, beam):
        translator = Translator.from_config(model, tokenizers, "cpu", decode, beam=beam, batch_size=BATCH,
                                            lenpen=ALPHA, length_norm="plain")
        return [nbest[0].text for nbest in translator.translate_nbest(sources)]
    return translate


def ctranslate2_engine(model_dir, compute_type, threads):
    import ctranslate2
    import sentencepiece as spm

    from nmt.export_ctranslate2 import export_ctranslate2

    out = Path(tempfile.mkdtemp()) / "ct2"
    export_ctranslate2(model_dir, out)
    translator = ctranslate2.Translator(str(out), device="cpu", compute_type=compute_type,
                                        inter_threads=1, intra_threads=threads)
    names = json.loads((out / "tokenizer" / "tokenizer.json").read_text())
    src = spm.SentencePieceProcessor(model_file=str(out / "tokenizer" / names["src"]))
    tgt = spm.SentencePieceProcessor(model_file=str(out / "tokenizer" / names["tgt"]))

    def translate(sources, beam):
        pieces = [src.encode(normalize(line), out_type=str) for line in sources]
        cap = int(1.5 * (max(len(p) for p in pieces) + 1) + 10)  # nmt's a|x| + b for the longest input
        results = translator.translate_batch(pieces, beam_size=beam, length_penalty=ALPHA, max_batch_size=BATCH,
                                             max_decoding_length=cap, min_decoding_length=0)
        return [tgt.decode(r.hypotheses[0]) for r in results]
    return translate


def measure(translate, sources, references, beam):
    translate(sources[:BATCH], beam)  # warm-up: first-call allocations stay out of the figure
    tick = time.perf_counter()
    hypotheses = translate(sources, beam)
    seconds = time.perf_counter() - tick
    scores = score_corpus(hypotheses, references)
    words = sum(len(h.split()) for h in hypotheses)
    return {"beam": beam, "seconds": round(seconds, 2), "sentences_per_s": round(len(sources) / seconds, 1),
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
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sources = read_lines(args.data_dir / f"{args.split}.{args.src}")
    references = read_lines(args.data_dir / f"{args.split}.{args.tgt}")
    engines = {"nmt fp32": nmt_engine(args.model, "fp32"), "nmt bf16": nmt_engine(args.model, "bf16"),
               "nmt int8": nmt_engine(args.model, "int8"),
               "CTranslate2 float32": ctranslate2_engine(args.model, "float32", args.threads),
               "CTranslate2 int8": ctranslate2_engine(args.model, "int8", args.threads)}
    report = {"machine": machine(), "model": str(args.model), "split": args.split, "threads": args.threads,
              "batch": BATCH, "length_penalty": ALPHA, "rows": []}
    for beam in (5, 1):
        for name, translate in engines.items():
            row = {"engine": name, **measure(translate, sources, references, beam)}
            report["rows"].append(row)
            print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

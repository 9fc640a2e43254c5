#!/usr/bin/env python
"""MAFAND-MT with the low-resource recipes: both directions of each pair, one `nmt curve` per direction on all
of its training data, then one table of test BLEU, OUT/mafand.md.

    nmt fetch mafand --src en --tgt hau          # and so on: data/mafand/en-hau, data/mafand/en-pcm, ...
    python scripts/mafand.py --data-dir data/mafand --out sweeps/mafand --max-time 1200 \
        --pairs en-hau en-pcm fr-wol

Each direction keeps its runs, results.jsonl and curve table in OUT/SRC-TGT; run the same command again
after an interruption and only the unfinished runs train.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

RECIPES = [Path(__file__).resolve().parent.parent / "configs" / name
           for name in ("lowres_bilstm.yaml", "lowres_transformer.yaml")]


def directions(pairs):
    """(source, target, pair folder) for both directions of each 'xx-yy' pair."""
    for pair in pairs:
        first, _, second = pair.partition("-")
        if not second:
            sys.exit(f"--pairs {pair}: expected two languages joined by '-', e.g. en-hau")
        yield first, second, pair
        yield second, first, pair


def train_direction(src, tgt, pair, args):
    command = [sys.executable, "-m", "nmt", "curve", "--data-dir", str(args.data_dir / pair),
               "--out", str(args.out / f"{src}-{tgt}"), "--max-time", str(args.max_time),
               "--configs", *map(str, args.configs), "--words", "all",
               "--set", f"data.src_lang={src}", "--set", f"data.tgt_lang={tgt}"]
    if subprocess.run(command).returncode != 0:
        sys.exit(f"{src}-{tgt}: nmt curve failed (its output is above)")


def table(args):
    names = [Path(config).stem for config in args.configs]
    lines = ["| direction | training pairs | " + " | ".join(f"{name} test BLEU (updates)" for name in names) + " |",
             "|" + " --- |" * (len(names) + 2)]
    for src, tgt, _ in directions(args.pairs):
        records = {r["config"]: r for r in map(json.loads, (args.out / f"{src}-{tgt}" / "results.jsonl").open())}
        pairs = next((f"{r['train_pairs']:,}" for r in records.values() if "train_pairs" in r), "")
        cells = [("failed" if "failed" in records.get(name, {"failed": 1}) else
                  f"{records[name]['test_bleu']:.2f} ({records[name]['steps']})") for name in names]
        lines.append(f"| {src}→{tgt} | {pairs} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="one folder per pair, e.g. DATA/en-hau")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-time", type=float, default=1200, help="training budget of each run, seconds")
    parser.add_argument("--pairs", nargs="+", required=True, help="e.g. en-hau fr-wol (both directions each)")
    parser.add_argument("--configs", nargs="+", type=Path, default=RECIPES)
    args = parser.parse_args()
    for src, tgt, pair in directions(args.pairs):
        train_direction(src, tgt, pair, args)
    text = table(args)
    (args.out / "mafand.md").write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()

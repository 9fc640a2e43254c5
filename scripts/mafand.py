#!/usr/bin/env python
"""MAFAND-MT with the low-resource recipes: one `nmt curve` per translation direction on all of its training
data, then one table of test BLEU and chrF, OUT/mafand.md.

    nmt fetch mafand --src en --tgt hau          # and so on: data/mafand/en-hau, data/mafand/fr-wol, ...
    python scripts/mafand.py --data-dir data/mafand --out sweeps/mafand --max-time 1200 \
        --directions en-hau hau-en fr-wol wol-fr

A direction reads the pair's folder whichever way round it is named (hau-en reads DATA/en-hau). Each keeps its
runs, results.jsonl and curve table in OUT/SRC-TGT; run the same command again after an interruption and only
the unfinished runs train (a run cut off while training goes on from its last checkpoint). --jobs N trains N of
a direction's runs side by side, as `nmt curve --jobs N`; --set KEY=VALUE changes a setting of every run. With
--seeds N every recipe trains with seeds 1..N: the table gives mean ± standard deviation, and names the recipe
with the best mean dev BLEU (the test split plays no part in that choice).
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from nmt.sweep.curve import summarise

RECIPES = [Path(__file__).resolve().parent.parent / "configs" / name
           for name in ("lowres_bilstm.yaml", "lowres_transformer.yaml")]

# Test BLEU of the paper's Transformer, trained from scratch on religious text (JW300, Bible) plus the news data
# (Adelani et al., NAACL 2022), its outputs rescored with sacreBLEU 2.6.0's defaults: the reference to reach.
PAPER_TRANSFORMER = {"en-hau": 9.4, "hau-en": 11.3, "en-yor": 8.9, "yor-en": 11.7, "en-swa": 26.2, "swa-en": 28.0,
                     "en-pcm": 11.6, "pcm-en": 19.4, "fr-wol": 1.7, "wol-fr": 1.6}


def directions(names, data_dir):
    """(source, target, pair folder) for each 'src-tgt' direction."""
    for name in names:
        src, _, tgt = name.partition("-")
        folder = next((f for f in (f"{src}-{tgt}", f"{tgt}-{src}") if (data_dir / f).is_dir()), None)
        if not tgt or folder is None:
            sys.exit(f"--directions {name}: expected src-tgt with a folder {data_dir}/{src}-{tgt} or {tgt}-{src}")
        yield src, tgt, folder


def curve_command(src, tgt, folder, args):
    """The `nmt curve` that trains and scores one direction's runs."""
    settings = [f"data.src_lang={src}", f"data.tgt_lang={tgt}", *args.overrides]
    return [sys.executable, "-m", "nmt", "curve", "--data-dir", str(args.data_dir / folder),
            "--out", str(args.out / f"{src}-{tgt}"), "--max-time", str(args.max_time),
            "--configs", *map(str, args.configs), "--words", "all", "--seeds", str(args.seeds),
            "--jobs", str(args.jobs), *(part for setting in settings for part in ("--set", setting))]


def train_direction(src, tgt, folder, args):
    if subprocess.run(curve_command(src, tgt, folder, args)).returncode != 0:
        sys.exit(f"{src}-{tgt}: nmt curve failed (its output is above)")


def table(args):
    """The markdown table of every direction's finished runs (OUT/SRC-TGT/results.jsonl), a row per direction."""
    names = [Path(config).stem for config in args.configs]
    lines = ["| direction | training pairs | " +
             " | ".join(f"{name}: test BLEU / chrF (updates, minutes)" for name in names) +
             " | best by dev BLEU | paper: Transformer (REL+NEWS) |", "|" + " --- |" * (len(names) + 4)]
    for src, tgt, _ in directions(args.directions, args.data_dir):
        results = (args.out / f"{src}-{tgt}" / "results.jsonl").read_text(encoding="utf-8").splitlines()
        runs = {}
        for record in map(json.loads, filter(None, results)):
            runs.setdefault(record["config"], []).append(record)
        scored = {name: row for name, row in ((name, summarise(records)) for name, records in runs.items())
                  if row["seeds"]}
        pairs = next((f"{row['train_pairs']:,}" for row in scored.values()), "")
        cells = [f"{row['test_bleu']} / {row['test_chrf']} ({row['steps']:,.0f}, {row['train_minutes']:.0f})"
                 if (row := scored.get(name)) else "failed" for name in names]
        best = max(scored, key=lambda name: scored[name]["dev_bleu_mean"], default="")
        paper = PAPER_TRANSFORMER.get(f"{src}-{tgt}", "")
        lines.append(f"| {src}→{tgt} | {pairs} | " + " | ".join(cells) + f" | {best} | {paper} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="one folder per pair, e.g. DATA/en-hau")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-time", type=float, default=1200, help="training budget of each run, seconds")
    parser.add_argument("--directions", nargs="+", required=True, help="e.g. en-hau hau-en fr-wol")
    parser.add_argument("--configs", nargs="+", type=Path, default=RECIPES)
    parser.add_argument("--seeds", type=int, default=1, help="every recipe trains with seeds 1..N (default: 1)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="a direction's runs side by side, each with its share of the cores (and of a GPU)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a config setting for every run, as nmt curve's (e.g. train.validation.metric=chrf)")
    args = parser.parse_args()
    for src, tgt, folder in directions(args.directions, args.data_dir):
        train_direction(src, tgt, folder, args)
    text = table(args)
    (args.out / "mafand.md").write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Length curricula against none, and `nmt average` against best/: one recipe, one time budget, several seeds.

    python scripts/benchmark_curriculum.py --data-dir data/multi30k --out sweeps/curriculum --max-time 1200 \
        --set train.compute.precision=fp32

Rows: no curriculum, short-then-long phases and square-root competence (CURRICULA below), each trained once
per --seeds seed. Every run keeps the checkpoints of its last --average validations; after training, their
`nmt average --last N` is scored on the test split beside best/. The runs share nmt's sweep store
(OUT/results.jsonl): run the same command again after an interruption and only unfinished runs train.
Writes OUT/curriculum.md and .csv (a line per run) and OUT/means.md (each row's mean).
"""
import argparse
import statistics
import sys
from pathlib import Path

from nmt.sweep.grid import Cell, Sweep, run_grid, run_nmt, score_test_split
from nmt.sweep.report import Column, write_tables

RECIPE = Path(__file__).resolve().parent.parent / "configs" / "multi30k_de_en_transformer.yaml"

# Multi30k pairs are short: the longer side plus BOS/EOS is at most 20 tokens for 75 % of them (56 at most).
CURRICULA = {
    "none": (),
    # BERT's schedule (90 % of the steps on short sequences), with "short" the shortest three quarters of pairs
    "phases": ("train.curriculum.type=phases",
               "train.curriculum.phases=[{max_tokens: 20, until_fraction: 0.9}, {}]"),
    # Platanios et al. 2019: c0 = 0.01 (the default), every pair admitted after half the budget
    "competence": ("train.curriculum.type=competence", "train.curriculum.duration_fraction=0.5"),
}


def averaged_test_bleu(run_dir, sweep, last):
    """Test BLEU of the mean of the run's last `last` kept checkpoints (written once, read on a rerun)."""
    log_path = run_dir.parent / f"{run_dir.name}.log"
    if not (run_dir / "averaged").is_dir():
        run_nmt(log_path, "average", "--run-dir", str(run_dir), "--last", str(last))
    return score_test_split(run_dir, sweep, log_path, model="averaged")["test_bleu"]


COLUMNS = [Column("curriculum", "curriculum"), Column("seed", "seed"), Column("updates", "steps"),
           Column("tokens/s", "tokens_per_s", "{:,.0f}"), Column("dev BLEU", "dev_bleu", "{:.2f}"),
           Column("test BLEU, best/", "test_bleu", "{:.2f}"),
           Column("test BLEU, average of the last kept", "averaged_test_bleu", "{:.2f}")]


def means(records):
    lines = ["| curriculum | runs | mean test BLEU, best/ | mean test BLEU, averaged |", "|" + " --- |" * 4]
    for name in CURRICULA:
        row = [r for r in records if r["curriculum"] == name]
        lines.append(f"| {name} | {len(row)} | {statistics.mean(r['test_bleu'] for r in row):.2f} | "
                     f"{statistics.mean(r['averaged_test_bleu'] for r in row):.2f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="Multi30k {split}.{de,en} files")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=RECIPE)
    parser.add_argument("--max-time", type=float, default=1200, help="training budget of each run, seconds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--average", type=int, default=5, help="checkpoints averaged (train.keep_checkpoints)")
    parser.add_argument("--validate-every", type=int, default=50,
                        help="updates between validations, so that the kept checkpoints lie close together")
    parser.add_argument("--test-split", default="test_2016_flickr")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    shared = (f"train.keep_checkpoints={args.average}", f"train.validation.every={args.validate_every}",
              *args.overrides)
    sweep = Sweep.of("benchmark_curriculum", args.out, args.data_dir, args.max_time, shared,
                     config=str(args.config.resolve()), test_split=args.test_split)
    cells = [Cell(f"{name}-seed{seed}", {"curriculum": name, "seed": seed}, args.config.resolve(),
                  (*overrides, f"train.seed={seed}"))
             for seed in args.seeds for name, overrides in CURRICULA.items()]
    records = run_grid(cells, sweep, log=lambda message: print(message, file=sys.stderr))
    failed = [r for r in records if "failed" in r]
    if failed:
        sys.exit(f"{failed[0]['cell']} failed: {failed[0]['failed']}")
    for record in records:
        record["averaged_test_bleu"] = averaged_test_bleu(sweep.run_root / record["cell"], sweep, args.average)
    write_tables(args.out / "curriculum", COLUMNS, records)
    text = means(records)
    (args.out / "means.md").write_text(text, encoding="utf-8")
    print((args.out / "curriculum.md").read_text(encoding="utf-8") + "\n" + text, end="")


if __name__ == "__main__":
    main()

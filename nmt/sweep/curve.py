"""`nmt curve`: learning curves, test BLEU against the amount of training data, one line per config.

Every (size, config) cell trains with the same time budget on a seeded subsample of the training
pairs (data.train_words) and is scored on the same test split.
"""
from pathlib import Path

from nmt.errors import NmtError
from nmt.sweep.grid import Cell, run_grid
from nmt.sweep.report import Column, plot_lines, write_tables

COLUMNS = [Column("config", "config"), Column("words asked", "words_asked"),
           Column("training words", "train_words", "{:,}"), Column("pairs", "train_pairs", "{:,}"),
           Column("test BLEU", "test_bleu", "{:.2f}"), Column("dev BLEU", "dev_bleu", "{:.2f}"),
           Column("updates", "steps"), Column("best at", "best_step"),
           Column("tokens/s", "tokens_per_s", "{:,.0f}")]


def learning_curve(configs, words, sweep, log=print):
    """Train the grid, then write OUT/curve.md, curve.csv and curve.png; returns the records."""
    names = [Path(c).stem for c in configs]
    if len(set(names)) < len(names):
        raise NmtError(f"--configs: two configs share a file name ({', '.join(names)}); the table tells "
                       "configs apart by file name")
    cells = [Cell(f"{name}-{size or 'all'}", {"config": name, "words_asked": size or "all"}, Path(config),
                  (f"data.train_words={size}",))
             for size in words for name, config in zip(names, configs)]
    records = run_grid(cells, sweep, log)
    write_tables(sweep.out / "curve", COLUMNS, records)
    plot_lines(sweep.out / "curve.png", [r for r in records if "failed" not in r], x="train_words", y="test_bleu",
               line="config", xlabel="training words (source side)", ylabel=f"test BLEU ({sweep.test_split})",
               title=f"Learning curves, {sweep.max_time:.0f} s of training per run")
    return records

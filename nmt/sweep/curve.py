"""`nmt curve`: learning curves, test BLEU against the amount of training data, one line per config.

Every (size, config, seed) cell trains under the same limit on a seeded subsample of the training pairs
(data.train_words; the same pairs for every config and seed) and is scored on the same test split. A
limit far beyond what early stopping needs makes it a curve at convergence, as Sennrich & Zhang's.
The table has a row per (config, size): test BLEU as mean ± standard deviation over the seeds and each
seed's value, the training time, and how many of the seeds stopped early (the rest hit the limit); the
plot draws the mean with error bars of one standard deviation.
"""
import statistics
from pathlib import Path

from nmt.errors import NmtError
from nmt.sweep.grid import Cell, run_grid
from nmt.sweep.report import Column, mean_and_spread, per_seed, plot_lines, write_tables

COLUMNS = [Column("config", "config"), Column("words asked", "words_asked"),
           Column("training words", "train_words", "{:,}"), Column("pairs", "train_pairs", "{:,}"),
           Column("seeds", "seeds"), Column("test BLEU", "test_bleu"),
           Column("test BLEU per seed", "test_bleu_per_seed"), Column("test chrF", "test_chrf"),
           Column("dev BLEU", "dev_bleu"), Column("updates", "steps", "{:,.0f}"),
           Column("best at", "best_step", "{:,.0f}"), Column("minutes", "train_minutes", "{:.0f}"),
           Column("stopped early", "early_stopped"), Column("tokens/s", "tokens_per_s", "{:,.0f}"),
           Column("trained on", "compute")]


def curve_cells(configs, words, seeds):
    """The grid, size by size: each config with each seed."""
    names = [Path(c).stem for c in configs]
    if len(set(names)) < len(names):
        raise NmtError(f"--configs: two configs share a file name ({', '.join(names)}); the table tells "
                       "configs apart by file name")
    return [Cell(f"{name}-{size or 'all'}-seed{seed}", {"config": name, "words_asked": size or "all", "seed": seed},
                 Path(config), (f"data.train_words={size}", f"train.seed={seed}"))
            for size in words for name, config in zip(names, configs) for seed in seeds]


def learning_curve(configs, words, seeds, sweep, log=print):
    """Train the grid, writing OUT/curve.md, curve.csv and curve.png (the mean over seeds) as each cell
    finishes; returns the table's rows."""
    return write_report(run_grid(curve_cells(configs, words, seeds), sweep, log,
                                 report=lambda records: write_report(records, sweep)), sweep)


def write_report(records, sweep):
    """The table (a row per config and size) and the plot of `records`; returns the rows."""
    groups = {}
    for record in records:
        groups.setdefault((record["config"], record["words_asked"]), []).append(record)
    rows = [summarise(group) for group in groups.values()]
    write_tables(sweep.out / "curve", COLUMNS, rows)
    plot_lines(sweep.out / "curve.png", [r for r in rows if "failed" not in r], x="train_words", y="test_bleu_mean",
               line="config", spread="test_bleu_sd", xlabel="training words (source side)",
               ylabel=f"test BLEU ({sweep.test_split}), mean ± sd over seeds",
               title=f"Learning curves, training limited to {sweep.max_time:.0f} s a run")
    return rows


def summarise(records):
    """One row of the table: a (config, size) cell over the seeds that finished."""
    scored = [r for r in records if "failed" not in r]
    row = {key: records[0][key] for key in ("config", "words_asked")}
    row["seeds"] = len(scored)
    if len(scored) < len(records):
        row["failed"] = "; ".join(f"seed {r['seed']}: {r['failed']}" for r in records if "failed" in r)
    if not scored:
        return row
    row.update({key: scored[0][key] for key in ("train_words", "train_pairs")})  # the same subsample for all
    for key in ("test_bleu", "test_chrf", "dev_bleu"):
        row[key] = mean_and_spread([r[key] for r in scored])
    row["test_bleu_mean"] = statistics.mean(r["test_bleu"] for r in scored)
    row["dev_bleu_mean"] = statistics.mean(r["dev_bleu"] for r in scored)  # what picks a best recipe
    row["test_bleu_sd"] = statistics.stdev(r["test_bleu"] for r in scored) if len(scored) > 1 else 0.0
    row["test_bleu_per_seed"] = per_seed([r["test_bleu"] for r in scored])
    for key in ("steps", "best_step", "tokens_per_s"):
        row[key] = statistics.mean(r[key] for r in scored)
    row["train_minutes"] = statistics.mean(r["train_seconds"] for r in scored) / 60
    row["early_stopped"] = f"{sum(r['early_stopped'] for r in scored)} of {len(scored)}"
    row["compute"] = " / ".join(dict.fromkeys(r.get("compute") or "?" for r in scored))  # ? in older records
    return row

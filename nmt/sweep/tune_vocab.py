"""`nmt tune-vocab`: one short run per (tokenizer kind, vocabulary size), same budget, scored on dev BLEU.

Writes the table (with how each vocabulary segments the training data), a plot of dev BLEU against
the size per kind, and the config of the winner, ready to train.
"""
from nmt import atomic
from nmt.config import load_config
from nmt.errors import NmtError
from nmt.schema import dump_yaml
from nmt.sweep.grid import Cell, run_grid
from nmt.sweep.report import Column, plot_lines, write_tables
from nmt.tokenize.build import KINDS

COLUMNS = [Column("kind", "kind"), Column("size", "size"), Column("real size (src)", "src_vocab"),
           Column("dev BLEU", "dev_bleu", "{:.2f}"), Column("dev chrF", "dev_chrf", "{:.2f}"),
           *[Column(f"{what} ({side})", f"{side}_{key}", fmt) for what, key, fmt in (
               ("subwords/word", "subwords_per_word", "{:.2f}"), ("unk %", "unknown_rate", "{:.2%}"),
               ("tokens/sent", "tokens_mean", "{:.1f}"), ("p95", "tokens_p95", "{}")) for side in ("src", "tgt")],
           Column("updates", "steps"), Column("tokens/s", "tokens_per_s", "{:,.0f}")]


def parse_kinds(text):
    kinds = [k.strip() for k in text.split(",")]
    for kind in kinds:
        if kind not in KINDS:
            raise NmtError(f"--kinds: unknown tokenizer kind {kind!r} (choose from {', '.join(KINDS)})")
    return kinds


def tune_vocab(config, kinds, sizes, sweep, log=print):
    """Train the grid, write OUT/vocab.md, vocab.csv, vocab.png and OUT/best.yaml; returns the winner's record."""
    cells = [Cell(f"{kind}-{size}", {"kind": kind, "size": size}, config,
                  (f"tokenizer.type={kind}", f"tokenizer.vocab_size={size}"))
             for kind in kinds for size in sizes]
    records = run_grid(cells, sweep, log)
    scored = [r for r in records if "failed" not in r]
    write_tables(sweep.out / "vocab", COLUMNS, records)
    if not scored:
        raise NmtError(f"every cell failed; see {sweep.out / 'vocab.md'}")
    plot_lines(sweep.out / "vocab.png", scored, x="size", y="dev_bleu", line="kind", xlabel="vocabulary size",
               ylabel="dev BLEU", title=f"Vocabulary tuning, {sweep.max_time:.0f} s of training per run")
    best = max(scored, key=lambda r: r["dev_bleu"])
    winner = load_config(config, [*sweep.overrides, f"tokenizer.type={best['kind']}",
                                  f"tokenizer.vocab_size={best['size']}"])
    atomic.write_text(sweep.out / "best.yaml",
                      f"# nmt tune-vocab's winner: {best['kind']} {best['size']}, dev BLEU {best['dev_bleu']:.2f}\n"
                      + dump_yaml(winner))
    return best

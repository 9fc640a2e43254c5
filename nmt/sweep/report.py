"""A sweep's report: one table as Markdown and CSV, and a PNG of one score against what varied."""
import csv
import io
import statistics
from dataclasses import dataclass

from nmt import atomic


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    fmt: str = "{}"  # how the Markdown table shows a value; the CSV keeps it whole

    def show(self, record):
        value = record.get(self.key)
        return "" if value is None else self.fmt.format(value)


def mean_and_spread(values):
    """'mean ± sample standard deviation' (just the value for one seed)."""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def per_seed(values):
    """Each seed's value, as '34.36 / 33.90'."""
    return " / ".join(f"{v:.2f}" for v in values)


def write_tables(stem, columns, records):
    """STEM.md and STEM.csv, one row per record; a failed cell's row says why in its last column."""
    lines = ["| " + " | ".join(c.header for c in columns) + " | note |", "|" + " --- |" * (len(columns) + 1)]
    for record in records:
        note = f"failed: {record['failed']}" if "failed" in record else ""
        lines.append("| " + " | ".join(c.show(record) for c in columns) + f" | {note} |")
    atomic.write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.key for c in columns] + ["failed"])
    for record in records:
        writer.writerow([record.get(c.key, "") for c in columns] + [record.get("failed", "")])
    atomic.write_text(stem.with_suffix(".csv"), buffer.getvalue())


def plot_lines(path, records, x, y, line, xlabel, ylabel, title, spread=None):
    """A PNG with one line per value of `line` (e.g. each config), `y` against `x` on a log scale; with
    `spread`, the key of each point's standard deviation over seeds, error bars of ± one."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for name in dict.fromkeys(r[line] for r in records):
        points = sorted((r[x], r[y], r.get(spread) or 0.0) for r in records
                        if r[line] == name and r.get(y) is not None)
        if points:
            xs, ys, errors = zip(*points)
            axes.errorbar(xs, ys, yerr=errors if spread else None, marker="o", capsize=3, label=str(name))
    axes.set_xscale("log")
    axes.set(xlabel=xlabel, ylabel=ylabel, title=title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    plt.close(figure)

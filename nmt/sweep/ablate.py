"""`nmt ablate`: what each trick is worth on your data, with error bars.

The base config and one arm per `--toggle [NAME:]KEY=VALUE` (each changes exactly that one key) train with
every seed under the same budget; the table gives each arm's dev and test BLEU as mean ± standard
deviation over the seeds, its difference to the base and the p-value of that difference by paired
bootstrap resampling of the test sentences (Koehn 2004, as sacreBLEU computes it, the seeds'
translations pooled so that a resample draws the same sentences of every seed for both systems).
"""
import re
import statistics

from nmt.config import load_config
from nmt.data.corpus import read_lines
from nmt.errors import NmtError
from nmt.schema import to_dict
from nmt.sweep.grid import Cell, run_grid, test_files
from nmt.sweep.report import Column, mean_and_spread, per_seed, write_tables

BASE = "base"
BOOTSTRAP_SAMPLES = 1000

COLUMNS = [Column("arm", "arm"), Column("change", "change"), Column("seeds", "seeds"),
           Column("dev BLEU", "dev_bleu"), Column("test BLEU", "test_bleu"),
           Column("test BLEU per seed", "test_bleu_per_seed"),
           Column("Δ test BLEU", "delta", "{:+.2f}"), Column("p (paired bootstrap)", "p_value", "{:.3f}"),
           Column("test chrF", "test_chrf"), Column("updates", "steps", "{:,.0f}"),
           Column("target tokens/s", "tokens_per_s", "{:,.0f}")]


def parse_toggles(config, overrides, toggles):
    """Check every toggle before anything runs: [NAME:]KEY=VALUE, a key the config has, a value it
    accepts, one that differs from the base's; returns {arm name: KEY=VALUE}, the name being the
    toggle itself unless one is given (config keys hold no ':', so a ':' before the '=' ends a name)."""
    base = to_dict(load_config(config, overrides))
    arms = {}
    for given in toggles:
        name, toggle = _name_and_toggle(given)
        key, sep, _ = toggle.partition("=")
        if not sep or not key.strip():
            raise NmtError(f"--toggle {given!r}: expected [name:]section.key=value")
        if key.strip() == "train.seed":
            raise NmtError("--toggle train.seed: every arm trains with every seed of --seeds")
        try:
            arm = to_dict(load_config(config, [*overrides, toggle]))
        except NmtError as e:
            raise NmtError(f"--toggle {given}: {e}") from None
        if arm == base:
            raise NmtError(f"--toggle {given}: the base config already has this value; the arm would change "
                           "nothing")
        if name == BASE or name in arms:
            raise NmtError(f"--toggle {given}: " + ("'base' names the base arm" if name == BASE else
                                                    "the same toggle or arm name is given twice"))
        arms[name] = toggle
    return arms


def _name_and_toggle(given):
    """('label', 'key=value') of 'label:key=value'; (toggle, toggle) of a toggle without a name."""
    name, colon, toggle = given.partition(":")
    if colon and "=" not in name and name.strip():
        return name.strip(), toggle.strip()
    return given, given


def ablation_cells(config, arms, seeds):
    """The grid: the base and each arm ({name: KEY=VALUE}), each with every seed; a cell's overrides
    are its seed and (for an arm) its one toggle."""
    changes = [(BASE, ())] + [(name, (toggle,)) for name, toggle in arms.items()]
    return [Cell(f"{_slug(name)}-seed{seed}", {"arm": name, "seed": seed}, config, (f"train.seed={seed}", *change))
            for name, change in changes for seed in seeds]


def _slug(arm):
    """A folder name for an arm: its name with anything but letters, digits, '.', '_', '=' and '-' as '_'."""
    return re.sub(r"[^\w.=-]", "_", arm)


def ablate(config, arms, seeds, sweep, log=print):
    """Train the grid, then write OUT/ablation.md and ablation.csv; returns one summary per arm."""
    records = run_grid(ablation_cells(config, arms, seeds), sweep, log)
    by_arm = {name: [r for r in records if r["arm"] == name] for name in dict.fromkeys(r["arm"] for r in records)}
    changes = {name: toggle for name, toggle in arms.items() if toggle != name}  # a named arm's toggle
    summaries = [summarise(name, changes.get(name, ""), by_arm[name], by_arm[BASE], sweep) for name in by_arm]
    write_tables(sweep.out / "ablation", COLUMNS, summaries)
    return summaries


def summarise(arm, change, records, base_records, sweep):
    """One row of the table: the arm's scores over the seeds that finished, against the base's."""
    scored = [r for r in records if "failed" not in r]
    row = {"arm": arm, "change": change, "seeds": len(scored)}
    if len(scored) < len(records):
        row["failed"] = "; ".join(f"seed {r['seed']}: {r['failed']}" for r in records if "failed" in r)
    if not scored:
        return row
    for key in ("dev_bleu", "test_bleu", "test_chrf"):
        row[key] = mean_and_spread([r[key] for r in scored])
    row["test_bleu_per_seed"] = per_seed([r["test_bleu"] for r in scored])
    row["steps"] = statistics.mean(r["steps"] for r in scored)
    row["tokens_per_s"] = statistics.mean(r["tokens_per_s"] for r in scored)
    base = {r["seed"]: r for r in base_records if "failed" not in r}
    pairs = [(base[r["seed"]], r) for r in scored if r["seed"] in base]
    if arm != BASE and pairs:
        row["delta"] = statistics.mean(r["test_bleu"] - b["test_bleu"] for b, r in pairs)
        row["p_value"] = paired_bootstrap_p([[test_files(sweep.run_root / r["cell"], sweep)[1:] for r in pair]
                                             for pair in pairs])
    return row


def paired_bootstrap_p(pairs):
    """p-value of the arm's test BLEU against the base's: sacreBLEU's paired bootstrap over the test
    sentences of every seed. `pairs`: per seed, the base's and the arm's (reference, translations) files."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    references = read_lines(pairs[0][0][0])
    base_lines, arm_lines = [], []
    for (_, base), (_, arm) in pairs:
        base_lines += read_lines(base)
        arm_lines += read_lines(arm)
    _, results = PairedTest([(BASE, base_lines), ("arm", arm_lines)], {"BLEU": BLEU()},
                            [references * len(pairs)], test_type="bs", n_samples=BOOTSTRAP_SAMPLES)()
    return float(results["BLEU"][1].p_value)

"""`nmt ablate`: the base and one arm per toggle, each changing one key, all with the same seeds;
bad toggles are refused before anything trains."""
import statistics

import pytest

from nmt.config import load_config
from nmt.errors import NmtError
from nmt.schema import to_dict
from nmt.sweep.ablate import ablation_cells, paired_bootstrap_p, parse_toggles, summarise
from nmt.sweep import grid
from nmt.sweep.grid import Sweep
from test_sweep import read_csv, tiny_yaml  # noqa: F401 (a fixture)

TOGGLES = ["train.label_smoothing=0", "model.tie_output=false", "train.curriculum.type=phases"]


def leaves(tree, prefix=""):
    """{dotted key: value} of every leaf of a nested dict."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_each_arm_changes_exactly_its_key_and_trains_with_the_base_seeds(tiny_yaml):
    cells = ablation_cells(tiny_yaml, parse_toggles(tiny_yaml, [], TOGGLES), seeds=[1, 2])
    seeds = {arm: [c.labels["seed"] for c in cells if c.labels["arm"] == arm] for arm in ["base", *TOGGLES]}
    assert all(s == [1, 2] for s in seeds.values())
    assert len({c.name for c in cells}) == len(cells) == 8
    for cell in cells:
        base = leaves(to_dict(load_config(tiny_yaml, [f"train.seed={cell.labels['seed']}"])))
        arm = leaves(to_dict(load_config(tiny_yaml, cell.overrides)))
        changed = {key for key in base.keys() | arm.keys() if base.get(key) != arm.get(key)}
        if cell.labels["arm"] == "base":
            assert not changed
            continue
        key = cell.labels["arm"].split("=")[0]
        if key.endswith(".type"):  # a kind's own keys (the phases of a curriculum) come with the kind
            section = key.removesuffix("type")
            assert key in changed and all(k.startswith(section) for k in changed)
        else:
            assert changed == {key}


@pytest.mark.parametrize("toggle, message", [
    ("train.label_smothing=0", "--toggle train.label_smothing=0: unknown config key train.label_smothing (did you mean train.label_smoothing?)"),
    ("train.label_smoothing=1.5", "--toggle train.label_smoothing=1.5: config key train.label_smoothing"),
    ("train.label_smoothing", "--toggle 'train.label_smoothing': expected [name:]section.key=value"),
    ("base:train.label_smoothing=0", "'base' names the base arm"),
    ("train.label_smoothing=0.1", "the base config already has this value"),
    ("train.seed=3", "every arm trains with every seed of --seeds"),
])
def test_a_bad_toggle_is_one_line_before_anything_trains(run_cli, toy_corpus, tiny_yaml, tmp_path, toggle, message):
    out = tmp_path / "ablation"
    r = run_cli("ablate", "--config", tiny_yaml, "--data-dir", toy_corpus, "--out", out, "--max-time", 5,
                "--toggle", "model.tie_output=false", "--toggle", toggle)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("nmt ablate: error: ") and message in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("twice", [["model.tie_output=false", "model.tie_output=false"],
                                   ["a:model.tie_output=false", "a:train.label_smoothing=0"]])
def test_the_same_toggle_or_name_twice_is_refused(tiny_yaml, twice):
    with pytest.raises(NmtError, match="the same toggle or arm name is given twice"):
        parse_toggles(tiny_yaml, [], twice)


def test_an_arm_may_be_named_and_a_value_may_hold_colons(tiny_yaml):
    extra = "data.extra=[{dir: /corpora/bt, ratio: 2, tag: '<BT>'}]"
    arms = parse_toggles(tiny_yaml, [], ["untied:model.tie_output=false", extra, f"bt: {extra}"])
    assert arms == {"untied": "model.tie_output=false", extra: extra, "bt": extra}
    cells = ablation_cells(tiny_yaml, arms, seeds=[1])
    assert [c.name for c in cells][:2] == ["base-seed1", "untied-seed1"]
    assert cells[1].overrides == ("train.seed=1", "model.tie_output=false")


def test_an_ablation_tabulates_each_arm_against_the_base(run_cli, toy_corpus, tiny_yaml, tmp_path):
    # resuming and growing by a seed are run_grid's, tested with `nmt curve` in test_sweep
    out = tmp_path / "ablation"
    r = run_cli("ablate", "--config", tiny_yaml, "--data-dir", toy_corpus, "--out", out, "--toggle",
                "no-ls:train.label_smoothing=0", "--seeds", 1, "--max-time", 60, timeout=300)
    assert r.returncode == 0, r.stderr
    base, arm = read_csv(out / "ablation.csv")
    assert (base["arm"], arm["arm"], arm["change"]) == ("base", "no-ls", "train.label_smoothing=0")
    assert not base["delta"] and not base["p_value"] and not arm["failed"]
    assert 0 < float(arm["p_value"]) <= 1 and float(arm["tokens_per_s"]) > 0
    assert float(arm["delta"]) == pytest.approx(float(arm["test_bleu"]) - float(base["test_bleu"]), abs=0.01)
    assert "| no-ls | train.label_smoothing=0 | 1 |" in (out / "ablation.md").read_text()


REFERENCES = [f"a small house number {i} stands by the river" for i in range(40)]


@pytest.fixture
def sweep(tmp_path):
    """A sweep scored on its split `test`, whose English references are REFERENCES."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test.en").write_text("\n".join(REFERENCES) + "\n", encoding="utf-8")
    return Sweep(tmp_path / "out", tmp_path / "data", 60, test_split="test")


def scored(sweep, name, seed, lines):
    """The record of a finished cell whose test translations are `lines`, its run directory written."""
    run_dir = sweep.run_root / f"{name}-seed{seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("data: {src_lang: de, tgt_lang: en}\n", encoding="utf-8")
    (run_dir / "test.best.hyp").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"cell": run_dir.name, "arm": name, "seed": seed, "dev_bleu": 1.0 + seed, "test_bleu": 10.0 * seed,
            "test_chrf": 30.0, "steps": 100, "tokens_per_s": 1000.0}


def files(sweep, records):
    return [grid.test_files(sweep.run_root / r["cell"], sweep)[1:] for r in records]


def test_a_clearly_better_arm_is_significant_and_a_near_copy_is_not(sweep):
    worse = [f"a house {i} by river" for i in range(40)]
    base = files(sweep, [scored(sweep, "base", seed, worse) for seed in (1, 2)])
    better = files(sweep, [scored(sweep, "better", seed, REFERENCES) for seed in (1, 2)])
    near = files(sweep, [scored(sweep, "near", seed, [REFERENCES[0], *worse[1:]]) for seed in (1, 2)])
    assert paired_bootstrap_p(list(zip(base, better))) < 0.01
    assert paired_bootstrap_p(list(zip(base, near))) > 0.05


def test_an_arm_row_gives_mean_spread_and_what_failed(sweep):
    lines = [f"a house {i}" for i in range(40)]
    base = [scored(sweep, "base", seed, lines) for seed in (1, 2, 3)]
    arm = [scored(sweep, "arm", 1, lines), scored(sweep, "arm", 2, lines),
           {"arm": "arm", "seed": 3, "failed": "out of memory"}]
    row = summarise("arm", "train.label_smoothing=0", arm, base, sweep)
    assert row["change"] == "train.label_smoothing=0" and row["seeds"] == 2 and row["failed"] == "seed 3: out of memory"
    assert row["test_bleu"] == f"15.00 ± {statistics.stdev([10.0, 20.0]):.2f}" and row["delta"] == 0.0
    assert row["test_bleu_per_seed"] == "10.00 / 20.00"
    assert 0 < row["p_value"] <= 1  # the same translations as the base's
    assert summarise("base", "", base, base, sweep)["dev_bleu"] == "3.00 ± 1.00"
    assert "delta" not in summarise("base", "", base, base, sweep)

"""The little-data recipes (configs/lowres_*.yaml) train and translate on a pair of unrelated languages, and
the baseline they are compared with differs from lowres_bilstm only where it says.

The test builds its own corpus: two invented languages that share no words and no script, with different
word order (subject-verb-object vs subject-object-verb) and morphology (separate words and prefixes vs
suffixes stacked on the noun). Each recipe runs as a user would run it, through the CLI, with only the
language pair and a short budget changed.
"""
import json
import random
from pathlib import Path

import pytest
import yaml

from nmt.config import load_config
from nmt.schema import to_dict

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ["lowres_bilstm", "lowres_transformer"]
BASELINE = "baseline_bilstm"  # lowres_bilstm with the choices for little data undone

# language A: Latin script, SVO, number and tense as separate particles / prefixes
# language B: Greek script, SOV, number, case and tense as suffixes
NOUNS = [("mako", "λεπ"), ("tiru", "σογ"), ("bela", "κιρ"), ("sono", "δαμ"), ("pira", "νευ"), ("kalu", "φοτ"),
         ("deno", "ρυχ"), ("vima", "ταλ"), ("zuko", "μηβ"), ("lori", "πεζ"), ("nesa", "γυρ"), ("hopa", "ξιλ")]
VERBS = [("fen", "ωκ"), ("mar", "ιλ"), ("tos", "ευδ"), ("gul", "αμ"), ("rek", "ορθ"), ("pim", "υσ"), ("dal", "ηφ")]
ADJECTIVES = [("sali", "βρο"), ("kemu", "χλα"), ("ruda", "σπι"), ("vota", "ζερ")]


def noun_phrase(rng, case):
    (a, b), plural = rng.choice(NOUNS), rng.random() < 0.4
    a_words, b_word = (["mi"] if plural else []) + [a], b + ("ες" if plural else "") + case
    if rng.random() < 0.5:
        adj_a, adj_b = rng.choice(ADJECTIVES)
        a_words, b_word = [adj_a] + a_words, adj_b + "ο " + b_word  # B: the adjective takes an ending
    return a_words, b_word


def sentence_pair(rng):
    (verb_a, verb_b), past = rng.choice(VERBS), rng.random() < 0.5
    subj_a, subj_b = noun_phrase(rng, "")
    obj_a, obj_b = noun_phrase(rng, "ν")  # B marks the object with an accusative suffix
    a = subj_a + [("ka" if past else "") + verb_a] + obj_a
    b = [subj_b, obj_b, verb_b + ("ισε" if past else "ει")]
    return " ".join(a) + " .", " ".join(b) + " ;"


def write_corpus(directory, sizes, seed=7):
    """{split}.xa / {split}.xb files of sizes[split] pairs, no source sentence in two splits."""
    rng, seen = random.Random(seed), set()
    for split, n in sizes.items():
        pairs = []
        while len(pairs) < n:
            pair = sentence_pair(rng)
            if pair[0] not in seen:
                seen.add(pair[0])
                pairs.append(pair)
        (directory / f"{split}.xa").write_text("".join(a + "\n" for a, _ in pairs), encoding="utf-8")
        (directory / f"{split}.xb").write_text("".join(b + "\n" for _, b in pairs), encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def unrelated_pair(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("xa_xb"), {"train": 2000, "dev": 40, "test": 30})


# What the test changes: the language pair, a vocabulary this tiny corpus can fill (BPE cannot learn 2,000
# pieces from 19 stems), and a budget of seconds; one thread, as the rest of the suite.
def overrides(steps):
    return ["data.src_lang=xa", "data.tgt_lang=xb", "tokenizer.vocab_size=320", f"train.limits.max_steps={steps}",
            f"train.validation.every={steps // 2}", "train.validation.size=20", "train.compute.threads=1",
            "train.compute.device=cpu"]


def changed(overrides_list):
    """The overrides as a nested dict, values YAML-typed as `--set` types them."""
    tree = {}
    for item in overrides_list:
        key, _, value = item.partition("=")
        *sections, leaf = key.split(".")
        node = tree
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = yaml.safe_load(value)
    return tree


def merged(base, changes):
    out = dict(base)
    for key, value in changes.items():
        out[key] = merged(base[key], value) if isinstance(value, dict) else value
    return out


@pytest.mark.parametrize("recipe", RECIPES)  # the baseline is lowres_bilstm with common values (tested below)
def test_recipe_trains_and_translates_a_pair_of_unrelated_languages(recipe, unrelated_pair, tmp_path, run_cli):
    path, run, settings = ROOT / "configs" / f"{recipe}.yaml", tmp_path / "run", overrides(steps=12)
    sets = [arg for item in settings for arg in ("--set", item)]
    result = run_cli("preprocess", "--config", path, "--data-dir", unrelated_pair, "--run-dir", run, *sets)
    assert result.returncode == 0, result.stderr
    result = run_cli("train", "--run-dir", run, timeout=300)  # the run's own config.yaml, as the recipe says
    assert result.returncode == 0, result.stderr

    # the recipe as written, changed only where the test said so
    expected = merged(to_dict(load_config(path)), changed(settings + [f"data.dir={unrelated_pair}"]))
    assert yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) == expected
    validations = [m for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if m["event"] == "valid"]
    assert [m["step"] for m in validations] == [6, 12]

    source = unrelated_pair / "test.xa"
    result = run_cli("translate", "--model", run / "best", "--input", source, "--output", tmp_path / "hyp.xb")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "hyp.xb").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(source.read_text(encoding="utf-8").splitlines()) == 30


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_keeps_the_low_resource_choices(recipe):
    """What both recipes promise: dev split, early stopping on dev BLEU after Sennrich & Zhang's 10 validations
    without a gain above a small threshold and no other limit (they train to convergence), label smoothing 0.2, word dropout, tied embeddings, small
    separate vocabularies and batches, the precision the hardware computes in."""
    cfg = load_config(ROOT / "configs" / f"{recipe}.yaml")
    assert (cfg.data.train_split, cfg.data.valid_split) == ("train", "dev")
    assert cfg.train.validation.patience == 10 and cfg.train.validation.every <= 200
    assert 0 < cfg.train.validation.min_delta <= 0.5  # a wobble of 400 dev sentences' BLEU is not a gain
    assert not (cfg.train.limits.max_time or cfg.train.limits.max_steps or cfg.train.limits.max_epochs)
    assert cfg.train.label_smoothing == 0.2 and cfg.model.word_dropout > 0 and cfg.model.tie_output
    assert cfg.tokenizer.type == "bpe" and not cfg.tokenizer.joint and cfg.tokenizer.vocab_size <= 5000
    assert 1000 <= cfg.train.batch_tokens <= 4000
    assert cfg.train.compute.precision == "auto"
    assert (cfg.model.layer_norm if cfg.model.type == "rnn" else cfg.model.norm == "pre")
    other = load_config(ROOT / "configs" / f"{recipe}.yaml", ["data.src_lang=yor", "data.tgt_lang=en"])
    assert (other.data.src_lang, other.data.tgt_lang) == ("yor", "en")


def flat(tree, prefix=""):
    """{'a.b': value} of a nested dict."""
    out = {}
    for key, value in tree.items():
        out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def test_the_baseline_differs_from_the_optimised_bilstm_only_in_the_choices_for_little_data():
    baseline, optimised = (flat(to_dict(load_config(ROOT / "configs" / f"{name}.yaml")))
                           for name in (BASELINE, "lowres_bilstm"))
    assert {key for key in baseline if baseline[key] != optimised[key]} == {
        "name", "tokenizer.vocab_size", "tokenizer.joint", "model.layer_norm", "model.dropout", "model.emb_dropout",
        "model.word_dropout", "train.batch_tokens", "train.label_smoothing", "train.validation.every"}
    # validations as far apart in training tokens, so that patience means the same in both
    assert (baseline["train.validation.every"] * baseline["train.batch_tokens"]
            == pytest.approx(optimised["train.validation.every"] * optimised["train.batch_tokens"], rel=0.05))
    # the [standard] comments mark exactly those lines
    marked = [line for line in (ROOT / "configs" / f"{BASELINE}.yaml").read_text().splitlines()
              if "# [standard]" in line and not line.lstrip().startswith("#")]
    assert len(marked) == 9

"""Configuration: defaults, sections per kind, overrides, one-line errors that name the key, upgrades."""
import re
import shlex
import typing
from pathlib import Path

import pytest
import torch

from nmt.cli import build_parser
from nmt.config import ExperimentConfig, load_config, read_yaml, upgrade, validate
from nmt.errors import NmtError
from nmt.models import build_model
from nmt.models.build import RNNConfig, TransformerConfig
from nmt.schema import describe, dump_yaml
from nmt.train.optimizers import AdadeltaConfig, AdamConfig, SGDConfig

ROOT = Path(__file__).resolve().parent.parent
FORMAT1_RUN_CONFIG = Path(__file__).parent / "fixtures" / "format1" / "transformer_run" / "config.yaml"


def test_defaults_load():
    cfg = load_config()
    assert cfg == ExperimentConfig()
    assert isinstance(cfg.model, TransformerConfig) and cfg.model.d_model == 512
    assert isinstance(cfg.train.optimizer, AdamConfig) and cfg.train.optimizer.lr == 5e-4
    assert cfg.train.optimizer.betas == (0.9, 0.98)
    assert cfg.train.lr_schedule.type == "inverse_sqrt" and cfg.decode.beam == 5
    assert cfg.train.scheduled_sampling.enabled is False


def test_model_type_picks_the_family_and_its_own_defaults():
    cfg = load_config(None, ["model.type=rnn", "model.hidden=64", "model.attention=dot"])
    assert isinstance(cfg.model, RNNConfig)
    assert (cfg.model.hidden, cfg.model.attention, cfg.model.encoder_layers) == (64, "dot", 1)
    assert load_config(None, ["model.type=transformer"]).model.encoder_layers == 6


@pytest.mark.parametrize("family, preset, sizes", [
    ("transformer", "base", dict(d_model=512, heads=8, encoder_layers=6, decoder_layers=6, ff_size=2048)),
    ("transformer", "tiny", dict(d_model=128, heads=4, encoder_layers=2, decoder_layers=2, ff_size=256)),
    ("rnn", "small", dict(embedding_dim=256, hidden=256, encoder_layers=1, decoder_layers=1))])
def test_a_preset_sets_the_sizes_and_a_key_given_beside_it_wins(family, preset, sizes):
    model = load_config(None, [f"model.type={family}", f"model.preset={preset}"]).model
    assert {key: getattr(model, key) for key in sizes} == sizes
    mine = load_config(None, [f"model.type={family}", f"model.preset={preset}", "model.encoder_layers=3"]).model
    assert mine.encoder_layers == 3 and mine.decoder_layers == sizes["decoder_layers"]


def test_an_unknown_preset_is_an_error_naming_the_family_s_presets():
    with pytest.raises(NmtError, match="model.preset") as error:
        load_config(None, ["model.type=rnn", "model.preset=big"])
    assert "'tiny', 'small' or 'base'" in str(error.value)


@pytest.mark.parametrize("settings, kind", [
    (["train.optimizer.type=sgd", "train.optimizer.momentum=0.5"], SGDConfig),
    (["train.optimizer.type=adadelta", "train.optimizer.lr=1.0", "train.optimizer.rho=0.9"], AdadeltaConfig),
])
def test_optimizer_type_picks_its_section(settings, kind):
    assert isinstance(load_config(None, settings).train.optimizer, kind)


def test_set_overrides_nested_keys_with_their_types():
    cfg = load_config(None, ["train.optimizer.lr=5e-4", "train.optimizer.eps=1e-8", "model.d_model=64",
                             "model.heads=4", "tokenizer.joint=false", "train.optimizer.betas=[0.9, 0.997]",
                             "name=my run", "data.max_length_ratio=2", "decode.lenpen=0",
                             "train.compute.device=cpu", "train.scheduled_sampling.schedule=linear",
                             "train.scheduled_sampling.c=2e-4"])
    assert cfg.train.optimizer.lr == 5e-4 and isinstance(cfg.train.optimizer.lr, float)
    assert cfg.train.optimizer.eps == 1e-8 and cfg.train.optimizer.betas == (0.9, 0.997)
    assert (cfg.model.d_model, cfg.model.heads, cfg.tokenizer.joint, cfg.name) == (64, 4, False, "my run")
    assert cfg.data.max_length_ratio == 2.0 and isinstance(cfg.data.max_length_ratio, float)
    assert cfg.decode.lenpen == 0.0 and cfg.train.compute.device == "cpu"
    assert cfg.train.scheduled_sampling.c == 2e-4
    assert cfg.model.ff_size == ExperimentConfig().model.ff_size  # untouched keys keep their defaults


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: exp\ntrain:\n  optimizer: {lr: 5e-4}\n  lr_schedule:\n    warmup_steps: 100\n"
                    "model:\n  dropout: 0.3\n", encoding="utf-8")
    cfg = load_config(path, ["train.lr_schedule.warmup_steps=7"])
    assert cfg.name == "exp" and cfg.model.dropout == 0.3
    assert cfg.train.optimizer.lr == 5e-4 and isinstance(cfg.train.optimizer.lr, float)  # YAML: a string
    assert cfg.train.lr_schedule.warmup_steps == 7  # the override wins over the file


@pytest.mark.parametrize("settings", [
    ["train.optimizer.betas=[0.8, 0.9]", "tokenizer.joint=false"],
    ["model.type=rnn", "train.optimizer.type=sgd", "train.lr_schedule.type=plateau",
     "train.scheduled_sampling.schedule=exponential", "train.scheduled_sampling.k=0.99"],
    ["model.preset=base", "model.heads=4"],
])
def test_dumped_config_loads_back_equal(tmp_path, settings):
    cfg = load_config(None, settings)
    path = tmp_path / "dumped.yaml"
    path.write_text(dump_yaml(cfg), encoding="utf-8")
    assert load_config(path) == cfg


# --- what users write: the recipes and the README's command lines ---------------------------------

@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    load_config(path)


def _readme_command_lines():
    text = (ROOT / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")  # continued lines joined
    lines = re.findall(r"^\s*(nmt [^\n]+)$", text, flags=re.M)
    return [re.split(r"\s[#<>|]", line)[0].strip() for line in lines]  # the command, not its redirections


@pytest.mark.parametrize("line", _readme_command_lines())
def test_every_readme_command_line_parses_and_its_config_loads(line):
    args = build_parser().parse_args(shlex.split(line)[1:])
    if getattr(args, "config", None) is not None:
        load_config(ROOT / args.config, args.overrides)
    elif getattr(args, "overrides", None):
        load_config(None, args.overrides)


# --- one line naming the key ------------------------------------------------------------------------

def _error(*overrides):
    with pytest.raises(NmtError) as e:
        load_config(None, list(overrides))
    message = str(e.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("overrides, expected", [
    (["model.emb_dropout=0.1"], "config key model.emb_dropout applies to model.type rnn, not transformer"),
    (["model.attention=dot"], "config key model.attention applies to model.type rnn, not transformer"),
    (["model.type=rnn", "model.heads=4"], "config key model.heads applies to model.type transformer, not rnn"),
    (["train.optimizer.momentum=0.5"], "config key train.optimizer.momentum applies to train.optimizer.type sgd, "
                                       "not adam"),
    (["train.lr_schedule.min_lr=1e-6"], "applies to train.lr_schedule.type plateau, not inverse_sqrt"),
    (["train.scheduled_sampling.c=0.1"], "applies to train.scheduled_sampling.schedule linear, not inverse_sigmoid"),
])
def test_a_key_of_another_kind_is_an_error_naming_its_kind(overrides, expected):
    assert expected in _error(*overrides)


@pytest.mark.parametrize("override, named, suggestion", [
    ("train.limits.max_step=3", "train.limits.max_step", "train.limits.max_steps"),
    ("model.dmodel=64", "model.dmodel", "model.d_model"),
    ("trian.seed=1", "trian", "train"),
    ("decode.zzz=4", "decode.zzz", None),
    ("train.scheduled_sampling.enable=true", "train.scheduled_sampling.enable", "train.scheduled_sampling.enabled"),
])
def test_a_misspelt_key_is_named_with_the_closest_suggestion(override, named, suggestion):
    message = _error(override)
    assert f"unknown config key {named}" in message
    assert (f"did you mean {suggestion}?" in message) if suggestion else "did you mean" not in message


def test_a_key_of_the_old_layout_says_where_it_moved():
    assert "unknown config key train.lr (now train.optimizer.lr; `nmt config --upgrade FILE`" in _error("train.lr=1")


@pytest.mark.parametrize("override, key", [
    ("model.d_model=abc", "model.d_model"),
    ("model.d_model=true", "model.d_model"),   # strict: a bool is not an int
    ("train.limits.max_steps=1.5", "train.limits.max_steps"),
    ("tokenizer.joint=maybe", "tokenizer.joint"),
    ("tokenizer.joint=1", "tokenizer.joint"),  # strict: an int is not a bool
    ("train.optimizer.lr=fast", "train.optimizer.lr"),
    ("train.optimizer.betas=0.9", "train.optimizer.betas"),
    ("train.optimizer.betas=[0.9, 0.98, 0.99]", "train.optimizer.betas"),
    ("name=[1, 2]", "name"),
    ("model=5", "model"),
    ("train.optimizer=adam", "train.optimizer"),
])
def test_a_wrong_type_names_the_key(override, key):
    assert f"config key {key}:" in _error(override)


@pytest.mark.parametrize("override, key", [
    ("model.dropout=-0.1", "model.dropout"),
    ("model.dropout=1.0", "model.dropout"),
    ("decode.beam=0", "decode.beam"),
    ("tokenizer.vocab_size=10", "tokenizer.vocab_size"),
    ("train.optimizer.lr=0", "train.optimizer.lr"),
    ("train.label_smoothing=1.0", "train.label_smoothing"),
    ("train.batch_tokens=0", "train.batch_tokens"),
    ("tokenizer.type=sentencepiece", "tokenizer.type"),   # the legacy manifest kind, no config type
    ("train.compute.device=tpu", "train.compute.device"),
    ("train.compute.precision=fp8", "train.compute.precision"),
    ("train.optimizer.type=rmsprop", "train.optimizer.type"),
    ("model.type=cnn", "model.type"),
    ("train.lr_schedule.type=warm_restarts", "train.lr_schedule.type"),
    ("train.scheduled_sampling.schedule=cosine", "train.scheduled_sampling.schedule"),
    ("train.scheduled_sampling.mode=parallel", "train.scheduled_sampling.mode"),
    ("train.scheduled_sampling.pick=top_k", "train.scheduled_sampling.pick"),
    ("train.scheduled_sampling.k=0.5", "train.scheduled_sampling.k"),       # inverse_sigmoid needs k >= 1
    ("train.validation.every=0", "train.validation.every"),
    ("train.limits.max_time=-1", "train.limits.max_time"),
])
def test_an_out_of_range_value_names_the_key(override, key):
    assert f"config key {key}" in _error(override)


@pytest.mark.parametrize("settings, named", [
    (["model.heads=3"], "model.heads"),                      # 512 is not a multiple of 3
    (["decode.n_best=6"], "decode.n_best"),                  # more than the beam of 5
    (["data.tgt_lang=de"], "data.tgt_lang"),                 # the same as the source language
    (["train.lr_schedule.type=plateau", "train.lr_schedule.min_lr=1"], "train.lr_schedule.min_lr"),
    (["train.optimizer.type=sgd", "train.optimizer.momentum=1.0"], "train.optimizer.momentum"),
    (["train.scheduled_sampling.schedule=linear", "train.scheduled_sampling.min_gold=1.5"],
     "train.scheduled_sampling.min_gold"),
    (["model.type=rnn", "model.hidden=15"], "model.hidden"),  # two encoder directions
    (["train.lr_schedule.type=cosine"], "train.lr_schedule.total_steps"),  # decays over which budget?
])
def test_checks_across_keys_name_the_key(settings, named):
    assert named in _error(*settings)


def test_set_without_equals_sign():
    assert "section.key=value" in _error("train.optimizer.lr")


def test_missing_config_file(tmp_path):
    with pytest.raises(NmtError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_an_error_from_the_file_names_the_file_and_one_from_set_does_not(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("model:\n  heads: many\n", encoding="utf-8")
    with pytest.raises(NmtError, match=rf"^{re.escape(str(path))}: config key model.heads"):
        load_config(path)
    with pytest.raises(NmtError, match=r"^config key model.d_model"):
        load_config(path, ["model.heads=4", "model.d_model=wide"])


def _one_line_error(result):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("text, expected", [
    ("train:\n  limits: {max_step: 10}\n", "did you mean train.limits.max_steps?"),
    ("model:\n  d_model: wide\n", "model.d_model"),
    ("model:\n  emb_dropout: 0.2\n", "model.emb_dropout applies to model.type rnn"),
    ("train:\n  optimizer: {lr: [1\n", "bad.yaml:"),  # not valid YAML: file and line
])
def test_cli_config_error_is_one_line_without_traceback(tmp_path, run_cli, text, expected):
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    result = run_cli("train", "--config", tmp_path / "bad.yaml", "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert expected in _one_line_error(result)


# --- every choice the config accepts is one the code builds ------------------------------------------

def _choices(cls, key):
    return typing.get_args(cls.model_fields[key].annotation)


@pytest.mark.parametrize("attention", _choices(RNNConfig, "attention"))
@pytest.mark.parametrize("init", _choices(RNNConfig, "init"))
def test_every_rnn_choice_builds(attention, init):
    cfg = load_config(None, ["model.type=rnn", "model.embedding_dim=8", "model.hidden=8",
                             f"model.attention={attention}", f"model.init={init}"]).model
    model = build_model(cfg, 20, 20, joint_vocab=True)
    assert model.attention.kind == attention


@pytest.mark.parametrize("settings", [[], ["train.optimizer.type=sgd"], ["train.optimizer.type=adadelta"],
                                      ["train.optimizer.type=adamw"], ["train.lr_schedule.type=plateau"],
                                      ["train.lr_schedule.type=linear", "train.lr_schedule.total_steps=20000"],
                                      ["train.lr_schedule.type=cosine", "train.limits.max_steps=20000"],
                                      ["train.lr_schedule.type=rex", "train.limits.max_steps=20000"]])
def test_every_optimizer_and_schedule_builds_from_its_section(settings):
    train = load_config(None, settings).train
    optimizer = train.optimizer.build(torch.nn.Linear(2, 2))
    assert type(optimizer).__name__.lower() == train.optimizer.type
    assert train.lr_schedule.build(peak_lr=train.optimizer.lr, max_steps=20_000).rate(10_000) > 0


# --- `nmt config` ----------------------------------------------------------------------------------

def _leaf_keys(data, prefix=""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_show_lists_every_key_of_every_kind_with_a_default_and_help():
    lines = list(describe(ExperimentConfig))
    shown = {line.split(":")[0] for line in lines if not line.startswith("#")}
    for settings in ([], ["model.type=rnn", "train.optimizer.type=sgd", "train.lr_schedule.type=plateau",
                          "train.scheduled_sampling.schedule=linear"], ["train.optimizer.type=adadelta"]):
        assert set(_leaf_keys(load_config(None, settings).model_dump())) <= shown
    assert all("  # " in line and not line.endswith("# ") for line in lines if not line.startswith("#"))


def test_cli_config_show_and_resolve(tmp_path, run_cli):
    shown = run_cli("config", "--show")
    assert shown.returncode == 0 and "train.optimizer.lr: 0.0005  # peak learning rate" in shown.stdout
    resolved = run_cli("config", "--config", ROOT / "configs" / "multi30k_de_en_bilstm.yaml",
                       "--set", "model.hidden=128")
    assert resolved.returncode == 0, resolved.stderr
    (tmp_path / "resolved.yaml").write_text(resolved.stdout, encoding="utf-8")
    assert load_config(tmp_path / "resolved.yaml").model.hidden == 128


# --- configs of nmt 0.1 (format 1) ---------------------------------------------------------------

def test_upgrade_moves_every_key_of_a_format1_run_config():
    old = read_yaml(FORMAT1_RUN_CONFIG)
    cfg = validate(upgrade(old))
    assert cfg.train.optimizer.lr == old["train"]["lr"] and cfg.train.optimizer.type == old["train"]["optimizer"]
    assert cfg.train.optimizer.betas == tuple(old["train"]["adam_betas"])
    assert cfg.train.optimizer.eps == old["train"]["adam_eps"]  # not adadelta_eps, which adam never used
    assert cfg.train.lr_schedule.warmup_steps == old["train"]["warmup_steps"]
    assert cfg.train.limits.max_steps == old["train"]["max_steps"]
    assert cfg.train.validation.every == old["train"]["valid_every"]
    assert cfg.train.validation.size == old["data"]["valid_size"]
    assert cfg.train.validation.beam == old["decode"]["valid_beam"]
    assert cfg.train.compute.threads == old["train"]["threads"]
    assert cfg.model.d_model == old["model"]["d_model"] and isinstance(cfg.model, TransformerConfig)
    assert validate(upgrade(cfg.model_dump())) == cfg  # today's layout passes through unchanged


def test_upgrade_keeps_the_parameters_of_the_optimizer_and_family_in_use():
    transformer = {"model": {"encoder_layers": 6, "decoder_layers": 3, "rnn_encoder_layers": 1, "rnn_decoder_layers": 1}}
    assert (validate(upgrade(transformer)).model.encoder_layers, validate(upgrade(transformer)).model.decoder_layers) \
        == (6, 3)  # the rnn's layer counts of the same file do not overwrite the transformer's
    old = {"model": {"type": "rnn", "d_model": 64, "heads": 4, "encoder_layers": 6, "rnn_hidden": 32,
                     "rnn_encoder_layers": 2},
           "train": {"optimizer": "adadelta", "lr": 1.0, "adam_eps": 1e-9, "adadelta_eps": 1e-5,
                     "adadelta_rho": 0.9, "momentum": 0.5, "lr_schedule": "inverse_sqrt", "min_lr": 1e-6}}
    cfg = validate(upgrade(old))
    assert (cfg.model.hidden, cfg.model.encoder_layers) == (32, 2)
    assert (cfg.train.optimizer.type, cfg.train.optimizer.eps, cfg.train.optimizer.rho) == ("adadelta", 1e-5, 0.9)


def test_upgrade_keeps_a_key_that_was_never_valid_so_it_is_still_reported():
    with pytest.raises(NmtError, match="unknown config key model.layers"):
        validate(upgrade({"model": {"layers": 3}}))


def test_cli_upgrade_writes_a_config_that_loads(tmp_path, run_cli):
    result = run_cli("config", "--upgrade", FORMAT1_RUN_CONFIG)
    assert result.returncode == 0, result.stderr
    (tmp_path / "new.yaml").write_text(result.stdout, encoding="utf-8")
    assert load_config(tmp_path / "new.yaml") == validate(upgrade(read_yaml(FORMAT1_RUN_CONFIG)))

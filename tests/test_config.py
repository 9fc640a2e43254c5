"""Configuration: defaults, overrides, and one-line errors that name the key."""
import pytest

from nmt.config import ExperimentConfig, dump_yaml, load_config
from nmt.errors import NmtError


def test_defaults_load():
    cfg = load_config()
    assert cfg == ExperimentConfig()
    assert cfg.decode.beam == 5 and cfg.model.d_model == 512 and cfg.train.lr == 5e-4
    assert isinstance(cfg.train.adam_betas, tuple)
    assert cfg.train.optimizer == "adam" and cfg.train.lr_schedule == "inverse_sqrt"
    assert cfg.train.scheduled_sampling.enabled is False


def test_nested_scheduled_sampling_section_from_yaml_and_overrides(tmp_path):
    path = tmp_path / "ss.yaml"
    path.write_text("train:\n  scheduled_sampling:\n    enabled: true\n    schedule: linear\n    k: 1\n",
                    encoding="utf-8")
    cfg = load_config(path, ["train.scheduled_sampling.c=2e-4", "train.scheduled_sampling.mode=per_step"])
    ss = cfg.train.scheduled_sampling
    assert (ss.enabled, ss.schedule, ss.k, ss.c, ss.mode) == (True, "linear", 1.0, 2e-4, "per_step")
    assert isinstance(ss.k, float)
    dumped = tmp_path / "dumped.yaml"
    dumped.write_text(dump_yaml(cfg), encoding="utf-8")
    assert load_config(dumped) == cfg


def test_set_overrides_with_their_types():
    cfg = load_config(None, ["train.lr=5e-4", "train.adam_eps=1e-8", "model.d_model=64", "model.heads=4",
                             "tokenizer.joint=false", "train.adam_betas=[0.9, 0.997]", "name=my run",
                             "data.max_length_ratio=2", "decode.lenpen=0", "train.device=cpu"])
    assert cfg.train.lr == 5e-4 and isinstance(cfg.train.lr, float)
    assert cfg.train.adam_eps == 1e-8 and isinstance(cfg.train.adam_eps, float)
    assert cfg.model.d_model == 64 and cfg.model.heads == 4
    assert cfg.tokenizer.joint is False
    assert cfg.train.adam_betas == (0.9, 0.997)
    assert cfg.name == "my run"
    assert cfg.data.max_length_ratio == 2.0 and isinstance(cfg.data.max_length_ratio, float)
    assert cfg.decode.lenpen == 0.0
    # untouched keys keep their defaults
    assert cfg.model.ff_size == ExperimentConfig().model.ff_size


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: exp\ntrain:\n  lr: 5e-4\n  warmup_steps: 100\nmodel:\n  dropout: 0.3\n", encoding="utf-8")
    cfg = load_config(path, ["train.warmup_steps=7"])
    assert cfg.name == "exp"
    assert cfg.train.lr == 5e-4 and isinstance(cfg.train.lr, float)  # YAML reads 5e-4 as a string
    assert cfg.train.warmup_steps == 7  # the override wins over the file
    assert cfg.model.dropout == 0.3


def test_dumped_config_loads_back_equal(tmp_path):
    cfg = load_config(None, ["train.lr=5e-4", "tokenizer.joint=false", "train.adam_betas=[0.8, 0.9]"])
    path = tmp_path / "dumped.yaml"
    path.write_text(dump_yaml(cfg), encoding="utf-8")
    assert load_config(path) == cfg


@pytest.mark.parametrize("override, named, suggestion", [
    ("train.warmup_step=10", "train.warmup_step", "train.warmup_steps"),
    ("model.dmodel=64", "model.dmodel", "model.d_model"),
    ("trian.lr=1e-3", "trian", "train"),
    ("decode.beam_size=4", "decode.beam_size", None),
    ("train.scheduled_sampling.enable=true", "train.scheduled_sampling.enable", "train.scheduled_sampling.enabled"),
])
def test_unknown_key_is_named_with_the_closest_suggestion(override, named, suggestion):
    with pytest.raises(NmtError) as e:
        load_config(None, [override])
    message = str(e.value)
    assert named in message
    if suggestion:
        assert f"did you mean {suggestion}?" in message
    assert "\n" not in message


def test_unknown_key_in_a_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  layers: 3\n", encoding="utf-8")
    with pytest.raises(NmtError, match=r"model\.layers"):
        load_config(path)


@pytest.mark.parametrize("override, key", [
    ("model.d_model=abc", "model.d_model"),
    ("model.d_model=true", "model.d_model"),
    ("train.max_steps=1.5", "train.max_steps"),
    ("tokenizer.joint=maybe", "tokenizer.joint"),
    ("train.lr=fast", "train.lr"),
    ("train.adam_betas=0.9", "train.adam_betas"),
    ("train.adam_betas=[0.9, 0.98, 0.99]", "train.adam_betas"),
    ("name=[1, 2]", "name"),
    ("model=5", "model"),
])
def test_wrong_type_names_the_key(override, key):
    with pytest.raises(NmtError) as e:
        load_config(None, [override])
    assert key in str(e.value)


@pytest.mark.parametrize("override, key", [
    ("model.dropout=-0.1", "dropout"),
    ("model.dropout=1.0", "dropout"),
    ("decode.beam=0", "beam"),
    ("tokenizer.vocab_size=10", "vocab_size"),
    ("model.heads=3", "heads"),           # 512 is not a multiple of 3
    ("decode.n_best=6", "n_best"),        # more than the beam of 5
    ("train.lr=0", "lr"),
    ("train.label_smoothing=1.0", "label_smoothing"),
    ("train.batch_tokens=0", "batch_tokens"),
    ("data.tgt_lang=de", "lang"),         # the same as the source language
    ("tokenizer.type=wordpiece", "tokenizer.type"),
    ("train.device=tpu", "train.device"),
    ("train.optimizer=rmsprop", "train.optimizer"),
    ("train.momentum=1.0", "train.momentum"),
    ("train.adadelta_rho=1.0", "train.adadelta_rho"),
    ("train.lr_schedule=cosine", "train.lr_schedule"),
    ("train.decay_factor=1.0", "train.decay_factor"),
    ("train.decay_patience=0", "train.decay_patience"),
    ("train.min_lr=-1e-6", "train.min_lr"),
    ("train.scheduled_sampling.schedule=cosine", "train.scheduled_sampling.schedule"),
    ("train.scheduled_sampling.mode=parallel", "train.scheduled_sampling.mode"),
    ("train.scheduled_sampling.pick=top_k", "train.scheduled_sampling.pick"),
    ("train.scheduled_sampling.k=0.5", "train.scheduled_sampling.k"),       # inverse_sigmoid needs k >= 1
    ("train.scheduled_sampling.min_gold=1.5", "train.scheduled_sampling.min_gold"),
    ("train.scheduled_sampling.c=-1", "train.scheduled_sampling.c"),
])
def test_impossible_values_are_rejected(override, key):
    with pytest.raises(NmtError) as e:
        load_config(None, [override])
    assert key in str(e.value)


@pytest.mark.parametrize("settings, key", [
    (["train.scheduled_sampling.schedule=linear"], "train.scheduled_sampling.k"),  # the default k is 2000
    (["train.scheduled_sampling.schedule=exponential", "train.scheduled_sampling.k=1"], "train.scheduled_sampling.k"),
    (["train.lr_schedule=plateau", "train.lr=1e-4", "train.min_lr=1e-3"], "train.min_lr"),
])
def test_cross_field_checks_name_the_key(settings, key):
    with pytest.raises(NmtError) as e:
        load_config(None, settings)
    assert key in str(e.value)
    # each schedule's k range is checked against that schedule only
    load_config(None, ["train.scheduled_sampling.schedule=exponential", "train.scheduled_sampling.k=0.999"])
    load_config(None, ["train.lr=1e-7"])  # min_lr above lr is fine when there is no plateau decay


def test_set_without_equals_sign():
    with pytest.raises(NmtError, match="section.key=value"):
        load_config(None, ["train.lr"])


def test_missing_config_file(tmp_path):
    with pytest.raises(NmtError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def _one_line_error(result):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("text, expected", [
    ("train:\n  warmup_step: 10\n", "did you mean train.warmup_steps?"),
    ("model:\n  d_model: wide\n", "model.d_model"),
    ("model:\n  dropout: -1\n", "dropout"),
    ("train:\n  lr: [1\n", "bad.yaml:"),  # not valid YAML: file and line
])
def test_cli_config_error_is_one_line_without_traceback(tmp_path, run_cli, text, expected):
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    result = run_cli("train", "--config", tmp_path / "bad.yaml", "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert expected in _one_line_error(result)


def test_cli_set_error_is_one_line_without_traceback(tmp_path, run_cli):
    (tmp_path / "ok.yaml").write_text("name: ok\n", encoding="utf-8")
    result = run_cli("preprocess", "--config", tmp_path / "ok.yaml", "--set", "decode.beam=0", cwd=tmp_path)
    assert "beam" in _one_line_error(result)

"""Model directories and checkpoints across versions, and config.json checked against the weights.

tests/fixtures/format1/ holds model directories exported by nmt 0.1 (config format 1, the flat
layout), with their translations of source.txt at beam 1 and 2 as nmt 0.1 printed them, and the
run config of the Transformer's run.
"""
import json
import shutil
from pathlib import Path

import pytest
import torch

import nmt.export
from conftest import tiny_config
from nmt.config import FORMAT, read_yaml, upgrade
from nmt.decode.translate import Translator
from nmt.errors import NmtError
from nmt.export import load_model
from nmt.schema import to_dict
from nmt.train.checkpoint import load_checkpoint, save_checkpoint
from nmt.train.loop import Trainer

FIXTURES = Path(__file__).parent / "fixtures" / "format1"


@pytest.mark.parametrize("family", ["transformer", "rnn"])
@pytest.mark.parametrize("beam", [1, 2])
def test_a_model_directory_of_nmt_0_1_translates_as_it_did(family, beam):
    model, tokenizers, decode_cfg = load_model(FIXTURES / family)
    source = (FIXTURES / "source.txt").read_text(encoding="utf-8").splitlines()
    expected = [line.split("\t") for line in (FIXTURES / f"{family}.beam{beam}.txt").read_text().splitlines()]
    got = Translator(model, tokenizers, "cpu", decode_cfg, beam=beam).translate_nbest(source)
    assert [n[0].text for n in got] == [text for text, _ in expected]
    assert [n[0].score for n in got] == pytest.approx([float(score) for _, score in expected], abs=1e-4)


@pytest.fixture
def model_copy(tmp_path):
    return Path(shutil.copytree(FIXTURES / "transformer", tmp_path / "m"))


def _edit_config(directory, **model_keys):
    path = directory / "config.json"
    config = json.loads(path.read_text())
    config["model"].update(model_keys)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("keys, expected", [
    ({"d_model": 1_000_000_000}, "has shape [32], but config.json describes [2000000000]"),  # terabytes
    ({"d_model": 32}, "has shape [32], but config.json describes [64]"),
    ({"ff_size": 64}, "decoder_layers.0.ff.0.bias has shape [32], but config.json describes [64]"),
    ({"decoder_layers": 2}, "tensor decoder_layers.1.self_attn.q_proj.weight is missing"),
    ({"tie_output": False}, "tensor tgt_embed.weight is missing"),  # stored tied, under one name
])
def test_config_json_that_disagrees_with_the_weights_fails_before_the_model_is_built(
        model_copy, monkeypatch, keys, expected):
    _edit_config(model_copy, **keys)

    def never(*args):
        raise AssertionError("the model was allocated")

    monkeypatch.setattr(nmt.export, "build_model", never)
    with pytest.raises(NmtError) as e:
        load_model(model_copy)
    assert str(e.value).startswith(f"{model_copy / 'model.safetensors'}: ")
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_config_json_of_a_newer_format_says_who_wrote_it_and_what_to_do(model_copy):
    path = model_copy / "config.json"
    config = json.loads(path.read_text())
    config.update(format=FORMAT + 1, nmt_version="9.0")
    path.write_text(json.dumps(config))
    with pytest.raises(NmtError, match=rf"written by nmt 9.0 in config format {FORMAT + 1}; .* upgrade nmt"):
        load_model(model_copy)


def test_config_json_is_validated_like_a_users_config(model_copy):
    path = model_copy / "config.json"
    config = json.loads(path.read_text())
    config.update(format=FORMAT, model=dict(upgrade({"model": config["model"]})["model"], emb_dropout=0.3))
    path.write_text(json.dumps(config))
    with pytest.raises(NmtError, match="invalid model config .*model.emb_dropout applies to model.type rnn"):
        load_model(model_copy)


def test_a_checkpoint_of_nmt_0_1_resumes(toy_corpus, fresh_run_dir):
    """A format-1 checkpoint (flat config, no config_format) resumes under the upgraded config."""
    cfg = tiny_config(toy_corpus, "train.limits.max_steps=2", "train.validation.size=2")
    Trainer(cfg, fresh_run_dir).run()
    checkpoint = fresh_run_dir / "checkpoints" / "last.pt"
    state = load_checkpoint(checkpoint)
    old = read_yaml(FIXTURES / "transformer_run" / "config.yaml")  # the same tiny model in nmt 0.1's layout
    assert old["model"]["d_model"] == cfg.model.d_model
    state["config"] = old
    del state["config_format"]
    save_checkpoint(checkpoint, state)
    resumed = Trainer(tiny_config(toy_corpus, "train.limits.max_steps=3", "train.validation.size=2"), fresh_run_dir)
    resumed.resume()
    assert resumed.step == 2
    resumed.run()
    assert resumed.step == 3
    assert load_checkpoint(checkpoint)["config"] == to_dict(resumed.cfg)  # written in today's layout


def test_a_checkpoint_of_another_model_is_refused(toy_corpus, fresh_run_dir):
    Trainer(tiny_config(toy_corpus, "train.limits.max_steps=1", "train.validation.size=2"), fresh_run_dir).run()
    wider = Trainer(tiny_config(toy_corpus, "model.d_model=32"), fresh_run_dir)
    with pytest.raises(NmtError, match="model section of the config differs"):
        wider.resume()
    assert isinstance(torch.load(fresh_run_dir / "checkpoints" / "last.pt", weights_only=True), dict)

"""CTranslate2 export: a trained toy Transformer translates the same in CTranslate2 as in nmt,
and what CTranslate2 cannot run is refused in one line."""
import json
import math
import sys

import pytest

ctranslate2 = pytest.importorskip("ctranslate2")

from conftest import tiny_config, untrained_model_dir  # noqa: E402
from nmt.data.corpus import normalize  # noqa: E402
from nmt.data.preprocess import preprocess  # noqa: E402
from nmt.decode.translate import Translator  # noqa: E402
from nmt.export import export_model, load_model  # noqa: E402
from nmt.export_ctranslate2 import export_ctranslate2  # noqa: E402
from nmt.tokenize import load_tokenizers  # noqa: E402
from nmt.train.loop import Trainer  # noqa: E402

# enough training (~10 s) for the toy model to translate and end most sentences itself: width 32,
# a constant rate (the tiny config's 4-step warmup decays it too early), a 2-sentence final validation
TRAINING = ["model.d_model=32", "model.ff_size=64", "train.limits.max_steps=600", "train.lr_schedule.warmup_steps=0", "model.dropout=0.0",
            "train.validation.every=100000", "train.validation.size=2"]


@pytest.fixture(scope="module", params=[("pre", True), ("post", False)],
                ids=["pre-norm, joint vocabulary", "post-norm, separate vocabularies"])
def exported(request, toy_corpus, tmp_path_factory):
    """(nmt model directory, its CTranslate2 export) of a briefly trained toy Transformer (tied output)."""
    norm, joint = request.param
    root = tmp_path_factory.mktemp(f"ct2_{norm}")
    cfg = tiny_config(toy_corpus, f"model.norm={norm}", f"tokenizer.joint={str(joint).lower()}", *TRAINING)
    preprocess(cfg, root / "run", log=lambda m: None)
    trainer = Trainer(cfg, root / "run")
    trainer.run()
    export_model(root / "model", trainer.model, cfg.model, cfg.decode, trainer.tokenizers)
    export_ctranslate2(root / "model", root / "ct2")
    return root / "model", root / "ct2"


def nmt_greedy(model_dir, lines):
    model, tokenizers, decode_cfg = load_model(model_dir)
    translator = Translator(model, tokenizers, "cpu", beam=1, max_len_a=decode_cfg.max_len_a,
                            max_len_b=decode_cfg.max_len_b)
    return [nbest[0].tokens for nbest in translator.translate_nbest(lines)]


def ctranslate2_greedy(ct2_dir, lines, max_len_a, max_len_b):
    """(token ids, length cap) of CTranslate2's greedy translations under nmt's rules: the cap
    floor(a * |source| + b), where |source| counts EOS (CTranslate2 takes one cap per call, so lines go
    one at a time), and no minimum length (CTranslate2's default minimum of 1 forbids an empty output)."""
    translator = ctranslate2.Translator(str(ct2_dir), device="cpu", intra_threads=1)
    tokenizers = load_tokenizers(ct2_dir / "tokenizer")  # the copy beside the CTranslate2 model
    outputs = []
    for line in lines:
        source = tokenizers.src.sp.encode(normalize(line), out_type=str)
        cap = math.floor(max_len_a * (len(source) + 1) + max_len_b)
        result = translator.translate_batch([source], beam_size=1, max_decoding_length=cap,
                                             min_decoding_length=0)
        outputs.append(([tokenizers.tgt.sp.piece_to_id(piece) for piece in result[0].hypotheses[0]], cap))
    return outputs


def test_ctranslate2_greedy_output_equals_nmt_on_99_percent_of_lines(exported, toy_corpus):
    model_dir, ct2_dir = exported
    lines = (toy_corpus / "test.en").read_text(encoding="utf-8").splitlines()
    decode_cfg = load_model(model_dir)[2]
    ours = nmt_greedy(model_dir, lines)
    theirs = ctranslate2_greedy(ct2_dir, lines, decode_cfg.max_len_a, decode_cfg.max_len_b)
    differing = [(i, a, b) for i, (a, (b, _)) in enumerate(zip(ours, theirs)) if a != b]
    assert len(differing) <= 0.01 * len(lines), differing
    # not a vacuous agreement on capped babble: the model ends most sentences itself
    ended = [tokens for tokens, (_, cap) in zip(ours, theirs) if 0 < len(tokens) < cap]
    assert len(ended) >= 0.75 * len(lines)


def test_export_names_the_special_tokens_and_copies_the_tokenizer(exported):
    model_dir, ct2_dir = exported
    config = json.loads((ct2_dir / "config.json").read_text(encoding="utf-8"))
    assert (config["unk_token"], config["bos_token"], config["eos_token"]) == ("<unk>", "<s>", "</s>")
    assert config["decoder_start_token"] == "<s>" and config["add_source_eos"] is True
    assert sorted(p.name for p in (ct2_dir / "tokenizer").iterdir()) == \
        sorted(p.name for p in (model_dir / "tokenizer").iterdir())


@pytest.mark.parametrize("family, settings, reason", [
    ("rnn", [], "BiLSTM"),
    ("transformer", ["model.reverse_source=true"], "reverse_source"),
])
def test_what_ctranslate2_cannot_run_is_refused_in_one_line(family, settings, reason, toy_corpus, tokenizers,
                                                            tmp_path, run_cli):
    model_dir = untrained_model_dir(tmp_path / "model", toy_corpus, tokenizers, *settings, family=family)
    result = run_cli("export", "--format", "ctranslate2", "--model", model_dir, "--out", tmp_path / "ct2")
    assert result.returncode == 2
    assert result.stderr.startswith("nmt export: error:") and result.stderr.count("\n") == 1, result.stderr
    assert reason in result.stderr
    assert not (tmp_path / "ct2").exists()


def test_an_existing_output_folder_is_replaced_only_with_force(toy_corpus, tokenizers, tmp_path, run_cli):
    model_dir = untrained_model_dir(tmp_path / "model", toy_corpus, tokenizers)
    out = tmp_path / "ct2"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    refused = run_cli("export", "--format", "ctranslate2", "--model", model_dir, "--out", out)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert (out / "notes.txt").exists()
    forced = run_cli("export", "--format", "ctranslate2", "--model", model_dir, "--out", out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert (out / "model.bin").is_file() and not (out / "notes.txt").exists()


def test_without_the_ctranslate2_package_the_error_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    from nmt.cli import main

    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # what `import ctranslate2` meets when absent
    monkeypatch.delitem(sys.modules, "nmt.export_ctranslate2")
    assert main(["export", "--format", "ctranslate2", "--model", str(tmp_path), "--out", str(tmp_path / "ct2")]) == 2
    assert "pip install 'nmt[ctranslate2]'" in capsys.readouterr().err

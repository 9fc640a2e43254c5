"""`nmt distill` and `nmt backtranslate` write corpora whose line i answers input line i, and
`data.extra` mixes such corpora into the training data as often as its ratio says, tagged if asked."""
import random
import shutil

import pytest

from conftest import tiny_config, untrained_model_dir
from nmt.data.corpus import read_lines
from nmt.data.preprocess import preprocess
from nmt.errors import NmtError
from nmt.export import model_languages
from nmt.synthetic import languages_of
from nmt.tokenize import load_tokenizers

LANGUAGES = ["--src-lang", "en", "--tgt-lang", "toy"]  # the untrained model records none


@pytest.fixture(scope="module")
def small_corpus(toy_corpus, tmp_path_factory):
    """40 training pairs of the toy corpus, one of them with an empty source, and its dev and test splits."""
    root = tmp_path_factory.mktemp("small")
    for lang in ("en", "toy"):
        lines = read_lines(toy_corpus / f"train.{lang}")[:40]
        lines[7] = "" if lang == "en" else lines[7]
        (root / f"train.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for split in ("val", "test"):
            shutil.copy(toy_corpus / f"{split}.{lang}", root / f"{split}.{lang}")
    return root


@pytest.fixture(scope="module")
def model_dir(toy_corpus, tokenizers, tmp_path_factory):
    return untrained_model_dir(tmp_path_factory.mktemp("teacher") / "model", toy_corpus, tokenizers)


def test_distilled_targets_answer_their_sources_line_for_line(run_cli, small_corpus, model_dir, tmp_path):
    r = run_cli("distill", "--teacher", model_dir, "--data-dir", small_corpus, "--out", tmp_path / "kd", *LANGUAGES,
                "--beam", 2)
    assert r.returncode == 0, r.stderr
    sources, targets = read_lines(tmp_path / "kd" / "train.en"), read_lines(tmp_path / "kd" / "train.toy")
    assert sources == read_lines(small_corpus / "train.en") and len(targets) == 40
    assert targets[7] == "" and all(targets[i] for i in range(40) if i != 7)
    for name in ("val.en", "val.toy", "test.en", "test.toy"):  # validated and tested on real references
        assert (tmp_path / "kd" / name).read_bytes() == (small_corpus / name).read_bytes()

    # the same sources in another order: each gets the same translation, so none is paired with another's
    shuffled = small_corpus.parent / "shuffled"
    shuffled.mkdir()
    order = list(range(40))
    random.Random(0).shuffle(order)
    for lang in ("en", "toy"):
        lines = read_lines(small_corpus / f"train.{lang}")
        (shuffled / f"train.{lang}").write_text("".join(lines[i] + "\n" for i in order), encoding="utf-8")
    r = run_cli("distill", "--teacher", model_dir, "--data-dir", shuffled, "--out", tmp_path / "kd2", *LANGUAGES,
                "--beam", 2, "--chunk-lines", 7)
    assert r.returncode == 0, r.stderr
    assert read_lines(tmp_path / "kd2" / "train.toy") == [targets[i] for i in order]


def test_back_translation_pairs_each_monolingual_line_with_its_translation(run_cli, small_corpus, model_dir,
                                                                         tmp_path):
    mono = small_corpus / "train.en"  # the reverse model's source language: the student's target
    out = tmp_path / "bt"
    r = run_cli("backtranslate", "--model", model_dir, "--mono", mono, "--out", out, *LANGUAGES, "--sample",
                "--top-k", 5, "--seed", 3)
    assert r.returncode == 0, r.stderr
    assert "40 back-translated pairs" in r.stderr
    assert read_lines(out / "train.en") == read_lines(mono)
    synthetic = read_lines(out / "train.toy")
    assert len(synthetic) == 40 and synthetic[7] == ""
    r = run_cli("backtranslate", "--model", model_dir, "--mono", mono, "--out", tmp_path / "again", *LANGUAGES,
                "--sample", "--top-k", 5, "--seed", 3)
    assert read_lines(tmp_path / "again" / "train.toy") == synthetic  # seeded sampling is repeatable
    r = run_cli("backtranslate", "--model", model_dir, "--mono", mono, "--out", tmp_path / "beam", *LANGUAGES)
    assert read_lines(tmp_path / "beam" / "train.toy") != synthetic


def test_a_model_without_recorded_languages_asks_for_them_in_one_line(run_cli, small_corpus, model_dir, tmp_path):
    r = run_cli("distill", "--teacher", model_dir, "--data-dir", small_corpus, "--out", tmp_path / "kd")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "does not record its languages" in r.stderr and "--src-lang and --tgt-lang" in r.stderr
    r = run_cli("backtranslate", "--model", model_dir, "--mono", tmp_path / "none.txt", "--out", tmp_path / "bt",
                *LANGUAGES)
    assert r.returncode == 2 and "none.txt: file not found" in r.stderr
    r = run_cli("distill", "--teacher", model_dir, "--data-dir", small_corpus, "--out", small_corpus, *LANGUAGES)
    assert r.returncode == 2 and "is the corpus being distilled" in r.stderr
    assert not (tmp_path / "kd").exists() and not (tmp_path / "bt").exists()


def test_languages_come_from_the_export_unless_the_flags_say(tmp_path):
    (tmp_path / "config.json").write_text('{"info": {"languages": ["hau", "en"]}}', encoding="utf-8")
    assert model_languages(tmp_path) == ("hau", "en")
    assert languages_of(tmp_path) == ("hau", "en")
    assert languages_of(tmp_path, tgt_lang="fr") == ("hau", "fr")
    (tmp_path / "config.json").write_text('{"info": {}}', encoding="utf-8")
    with pytest.raises(NmtError, match="give --src-lang and --tgt-lang"):
        languages_of(tmp_path, src_lang="hau")


def training_text(run):
    return list(zip(read_lines(run / "data" / "train.src.txt"), read_lines(run / "data" / "train.tgt.txt")))


def test_extra_corpora_are_mixed_in_as_often_as_their_ratio_says(small_corpus, toy_corpus, tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    for lang in ("en", "toy"):
        lines = read_lines(toy_corpus / f"train.{lang}")[100:300]
        (extra / f"train.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    extra_pairs = list(zip(read_lines(extra / "train.en"), read_lines(extra / "train.toy")))

    def mix(name, entries):
        cfg = tiny_config(small_corpus, f"data.extra={entries}")
        preprocess(cfg, tmp_path / name, log=lambda m: None)
        return training_text(tmp_path / name)

    alone = mix("alone", "[]")
    assert len(alone) == 39  # the pair with an empty source is dropped
    twice = mix("twice", f"[{{dir: {extra}, ratio: 2, tag: '<BT>'}}]")
    assert twice[:39] == alone
    assert twice[39:] == [(f"<BT> {s}", t) for s, t in extra_pairs] * 2
    tokenizers = load_tokenizers(tmp_path / "twice" / "tokenizer")
    pieces = [tokenizers.src.decode([i]) for i in tokenizers.src.encode("<BT> a house")]
    assert "<BT>" in pieces  # the tag is one piece, never split
    half = mix("half", f"[{{dir: {extra}, ratio: 1.5}}]")
    assert half[:39 + 200] == alone + extra_pairs
    rest = half[39 + 200:]
    assert 70 <= len(rest) <= 130 and set(rest) <= set(extra_pairs)
    assert mix("half_again", f"[{{dir: {extra}, ratio: 1.5}}]") == half  # a seeded share: the same pairs again


def test_a_missing_extra_corpus_is_one_line_naming_its_file(small_corpus, tmp_path):
    cfg = tiny_config(small_corpus, f"data.extra=[{{dir: {tmp_path / 'nowhere'}}}]")
    with pytest.raises(NmtError, match=r"nowhere/train.en: file not found"):
        preprocess(cfg, tmp_path / "run", log=lambda m: None)

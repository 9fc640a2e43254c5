"""`nmt preprocess` statistics (stats.json) against counts computed here from the text itself."""
import json
import math

import pytest

from nmt.config import load_config
from nmt.data.corpus import normalize, read_lines
from nmt.data.dataset import verify_manifest
from nmt.data.preprocess import preprocess
from nmt.tokenize import UNK_ID, load_tokenizers

TOO_LONG = " ".join(["wort"] * 30)
UNSEEN = "Zürich 東京"  # characters the toy corpus lacks: <unk> for wordpiece, bytes for bpe


@pytest.fixture(scope="module", params=["bpe", "wordpiece"])
def stats_run(request, toy_corpus, tmp_path_factory):
    """A run on the toy corpus plus duplicated, empty and over-long pairs; returns (run dir, train pairs)."""
    corpus = tmp_path_factory.mktemp("corpus")
    src, tgt = read_lines(toy_corpus / "train.en")[:300], read_lines(toy_corpus / "train.toy")[:300]
    src += src[:7] + ["", TOO_LONG, "kurz"]
    tgt += tgt[:7] + ["leer", "short", TOO_LONG + " " + TOO_LONG]
    valid = src[:40] + [UNSEEN], tgt[:40] + ["dog"]
    for split, lines_src, lines_tgt in (("train", src, tgt), ("val", *valid)):
        (corpus / f"{split}.en").write_text("".join(s + "\n" for s in lines_src), encoding="utf-8")
        (corpus / f"{split}.toy").write_text("".join(t + "\n" for t in lines_tgt), encoding="utf-8")
    cfg = load_config(None, [f"data.dir={corpus}", "data.src_lang=en", "data.tgt_lang=toy", "data.max_words=40",
                             f"tokenizer.type={request.param}", "tokenizer.vocab_size=300"])
    run = tmp_path_factory.mktemp("run") / request.param
    preprocess(cfg, run, log=lambda line: None)
    return run, (src[:307], tgt[:307])


def test_unknown_rate_counts_wordpiece_unknowns(stats_run):
    run, _ = stats_run
    valid_src = json.loads((run / "stats.json").read_text())["valid"]["src"]
    assert (valid_src["unknown_rate"] > 0) == (run.name == "wordpiece")


def _expected_side(sentences, tokenizer):
    ids = [tokenizer.encode(normalize(s)) for s in sentences]
    lengths = sorted(len(i) for i in ids)
    tokens, words = sum(lengths), sum(len(s.split()) for s in sentences)
    return {"sentences": len(sentences), "words": words, "subwords": tokens,
            "tokens_per_sentence": {"mean": tokens / len(ids), "max": lengths[-1],
                                    "p95": lengths[math.ceil(0.95 * len(lengths)) - 1]},  # nearest rank
            "subwords_per_word": tokens / words,
            "unknown_rate": sum(i.count(UNK_ID) for i in ids) / tokens}


def test_stats_equal_counts_computed_from_the_text(stats_run):
    run, (src, tgt) = stats_run
    stats = json.loads((run / "stats.json").read_text())
    tokenizers = load_tokenizers(run / "tokenizer")
    train = stats["train"]
    assert train["pairs"] == 307
    assert train["dropped"] == {"empty": 1, "too long": 1, "length ratio": 1}
    assert train["duplicate_pairs"] == 7
    assert train["src"] == _expected_side(src, tokenizers.src)
    assert train["tgt"] == _expected_side(tgt, tokenizers.tgt)
    valid = stats["valid"]
    assert valid["pairs"] == 41 and valid["duplicate_pairs"] == 0 and valid["dropped"] == {}
    assert valid["src"] == _expected_side(src[:40] + [UNSEEN], tokenizers.src)
    assert valid["tgt"] == _expected_side(tgt[:40] + ["dog"], tokenizers.tgt)


def test_stats_file_is_vouched_for_by_the_manifest(stats_run):
    run, _ = stats_run
    assert "stats.json" in verify_manifest(run)["files"]

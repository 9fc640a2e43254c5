"""sentencepiece tokenizers: lossless round trip, byte fallback, joint vs separate, save/load."""
import pytest

from nmt.config import TokenizerConfig
from nmt.data.corpus import normalize, read_lines
from nmt.tokenize import BOS_ID, EOS_ID, PAD_ID, UNK_ID, load_tokenizers, train_tokenizers
from nmt.tokenize.build import save_tokenizers

# text the toy corpus never contains: accents, other scripts, symbols, emoji, full-width forms,
# a decomposed accent (NFC composes it), digits and unusual punctuation
UNSEEN = [
    "Zürich, São Paulo and Kraków.",
    "Straße № 5 — «quoted» ‘text’ …",
    "東京 と 大阪 ☃ 😀 ﬁ ｆｕｌｌ",
    "Ελληνικά Русский עברית العربية",
    "cafe\u0301 42 3.14 $%&*(){}[]<>|\\/~^`@#",
]


@pytest.fixture(scope="module")
def corpus_text(toy_corpus):
    return read_lines(toy_corpus / "train.en"), read_lines(toy_corpus / "train.toy")


@pytest.fixture(scope="module")
def separate(corpus_text):
    src, tgt = corpus_text
    return train_tokenizers(TokenizerConfig(type="bpe", vocab_size=320, joint=False), src, tgt)


def test_round_trip_on_training_text(tokenizers, corpus_text):
    src, tgt = corpus_text
    for line in src[:100] + tgt[:100]:
        text = normalize(line)
        assert tokenizers.src.decode(tokenizers.src.encode(text)) == text
        assert tokenizers.tgt.decode(tokenizers.tgt.encode(text)) == text


@pytest.mark.parametrize("text", UNSEEN)
def test_round_trip_with_unseen_characters_uses_byte_fallback(tokenizers, text):
    text = normalize(text)
    ids = tokenizers.src.encode(text)
    assert UNK_ID not in ids  # byte fallback spells unseen characters instead of <unk>
    assert tokenizers.src.decode(ids) == text


@pytest.mark.parametrize("model_type", ["bpe", "unigram", "char"])
def test_round_trip_for_each_model_type(corpus_text, model_type):
    src, tgt = corpus_text
    tok = train_tokenizers(TokenizerConfig(type=model_type, vocab_size=320, joint=True), src, tgt)
    for text in [normalize(t) for t in src[:20] + tgt[:20] + UNSEEN]:
        ids = tok.src.encode(text)
        assert UNK_ID not in ids
        assert tok.src.decode(ids) == text


def test_ids_exclude_special_symbols(tokenizers, corpus_text):
    """BOS/EOS are the data pipeline's job; PAD never comes out of a tokenizer."""
    sp = tokenizers.src.sp
    assert (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
    for text in corpus_text[0][:50] + UNSEEN:
        ids = tokenizers.src.encode(normalize(text))
        assert ids and not {PAD_ID, BOS_ID, EOS_ID} & set(ids)
    assert tokenizers.src.encode("") == []


def test_joint_is_one_shared_model(tokenizers, tiny_cfg):
    assert tokenizers.joint
    assert tokenizers.src is tokenizers.tgt
    assert tokenizers.src.vocab_size == tiny_cfg.tokenizer.vocab_size


def test_separate_models_learn_their_own_language(separate, corpus_text):
    src, tgt = corpus_text
    assert not separate.joint
    assert separate.src is not separate.tgt
    assert separate.src.vocab_size == separate.tgt.vocab_size == 320
    # each model segments its own language into fewer pieces than the other language's model does
    assert sum(len(separate.src.encode(s)) for s in src) < sum(len(separate.tgt.encode(s)) for s in src)
    assert sum(len(separate.tgt.encode(t)) for t in tgt) < sum(len(separate.src.encode(t)) for t in tgt)


def _check_save_load(tokenizers, directory, texts):
    save_tokenizers(tokenizers, directory)
    loaded = load_tokenizers(directory)
    assert loaded.joint == tokenizers.joint
    assert (loaded.src is loaded.tgt) == tokenizers.joint
    assert loaded.src.vocab_size == tokenizers.src.vocab_size
    assert loaded.tgt.vocab_size == tokenizers.tgt.vocab_size
    for text in texts:
        assert loaded.src.encode(text) == tokenizers.src.encode(text)
        assert loaded.tgt.encode(text) == tokenizers.tgt.encode(text)
        ids = tokenizers.tgt.encode(text)
        assert loaded.tgt.decode(ids) == tokenizers.tgt.decode(ids)


def test_save_load_joint_gives_identical_ids(tokenizers, corpus_text, tmp_path):
    texts = [normalize(t) for t in corpus_text[0][:30] + corpus_text[1][:30] + UNSEEN]
    _check_save_load(tokenizers, tmp_path / "tok", texts)


def test_save_load_separate_gives_identical_ids(separate, corpus_text, tmp_path):
    texts = [normalize(t) for t in corpus_text[0][:30] + corpus_text[1][:30] + UNSEEN]
    _check_save_load(separate, tmp_path / "tok", texts)

"""Tokenizers of every kind: lossless round trip, byte fallback, vocabulary size, joint vs separate, save/load."""
import pytest

from nmt.config import TokenizerConfig
from nmt.data.corpus import normalize, read_lines
from nmt.errors import NmtError
from nmt.tokenize import BOS_ID, EOS_ID, KINDS, PAD_ID, UNK_ID, load_tokenizers, train_tokenizers
from nmt.tokenize.build import save_tokenizers, training_sample

# text the toy corpus never contains: accents, other scripts, symbols, emoji, full-width forms,
# a decomposed accent (NFC composes it), digits and unusual punctuation
UNSEEN = [
    "Zürich, São Paulo and Kraków.",
    "Straße № 5 — «quoted» ‘text’ …",
    "東京 と 大阪 ☃ 😀 ﬁ ｆｕｌｌ",
    "Ελληνικά Русский עברית العربية",
    "cafe\u0301 42 3.14 $%&*(){}[]<>|\\/~^`@#",
]


# the five scripts issue 9 names, with punctuation where each language puts it
MULTILINGUAL = [
    "Zürich, São Paulo and Kraków: déjà vu!",
    "Œuvres complètes — «naïve» façade, Ångström.",
    "Привет, как дела? Всё хорошо, спасибо.",
    "Съешь же ещё этих мягких французских булок.",
    "東京と大阪に行きました。今日は晴れです！",
    "我们 明天 见，好吗？",
    "مرحبا بالعالم، كيف حالك؟",
    "اللغة العربية جميلة جدا.",
    "I ❤️ pizza 🍕 and my 👨‍👩‍👧 family! 😀",
    "Flags 🇩🇪🇬🇧, hands 👍🏽 (ok?) ✨",
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


# bpe needs a piece per character (412 with the byte pieces) and the word model finds only 413 words
SAMPLE_VOCAB = 413


@pytest.fixture(scope="module", params=sorted(KINDS))
def trained_kind(request, corpus_text):
    """(kind, joint Tokenizers) trained on the toy corpus and the multilingual sample."""
    src, tgt = corpus_text
    cfg = TokenizerConfig(type=request.param, vocab_size=SAMPLE_VOCAB, joint=True)
    return request.param, train_tokenizers(cfg, src + MULTILINGUAL, tgt + MULTILINGUAL)


def test_every_kind_round_trips_the_multilingual_sample(trained_kind):
    _, tok = trained_kind
    for text in MULTILINGUAL:
        ids = tok.src.encode(text)
        assert UNK_ID not in ids
        assert tok.src.decode(ids) == text


def test_every_kind_keeps_to_its_vocabulary_size(trained_kind):
    kind, tok = trained_kind
    if kind in ("char", "wordpiece"):  # one piece per character seen / merges stop when no pair is left
        assert tok.src.vocab_size <= SAMPLE_VOCAB
    else:
        assert tok.src.vocab_size == SAMPLE_VOCAB


def test_every_kind_uses_the_shared_special_ids(trained_kind):
    _, tok = trained_kind
    for text in MULTILINGUAL:
        assert not {PAD_ID, BOS_ID, EOS_ID} & set(tok.src.encode(text))
    # an id decodes to the piece the shared numbering promises
    assert tok.src.decode([UNK_ID]).strip() in ("<unk>", "⁇")


def test_batch_encoding_equals_one_by_one(trained_kind, corpus_text):
    _, tok = trained_kind
    texts = MULTILINGUAL + [normalize(t) for t in corpus_text[0][:20]]
    assert [list(ids) for ids in tok.src.encode_batch(texts)] == [tok.src.encode(t) for t in texts]


def test_every_kind_saves_and_loads_by_its_manifest_kind(trained_kind, tmp_path):
    kind, tok = trained_kind
    _check_save_load(tok, tmp_path / "tok", MULTILINGUAL)
    assert load_tokenizers(tmp_path / "tok").src.kind == kind


def test_wordpiece_separate_models_save_and_load(corpus_text, tmp_path):
    src, tgt = corpus_text
    tok = train_tokenizers(TokenizerConfig(type="wordpiece", vocab_size=200, joint=False), src, tgt)
    _check_save_load(tok, tmp_path / "tok", [normalize(t) for t in src[:30] + tgt[:30]])


def test_wordpiece_maps_a_word_with_an_unseen_character_to_unk(corpus_text):
    src, tgt = corpus_text
    tok = train_tokenizers(TokenizerConfig(type="wordpiece", vocab_size=200), src, tgt).src
    assert tok.encode("Zürich") == [UNK_ID]  # no byte fallback: the kind's own rule


def test_wordpiece_vocabulary_smaller_than_the_alphabet_is_a_one_line_error():
    with pytest.raises(NmtError, match=r"tokenizer.vocab_size 20 is too small for wordpiece"):
        train_tokenizers(TokenizerConfig(type="wordpiece", vocab_size=20), MULTILINGUAL, MULTILINGUAL)


def test_unknown_kind_in_a_manifest_is_a_one_line_error(tokenizers, tmp_path):
    save_tokenizers(tokenizers, tmp_path)
    manifest = tmp_path / "tokenizer.json"
    manifest.write_text(manifest.read_text().replace('"bpe"', '"morfessor"'))
    with pytest.raises(NmtError, match="unknown tokenizer kind 'morfessor'"):
        load_tokenizers(tmp_path)


def test_bpe_dropout_samples_other_segmentations_of_the_same_text_one_per_seed(tokenizers, corpus_text):
    text = normalize(corpus_text[0][0])
    samples = {tuple(tokenizers.src.sample_batch([text], 0.3, seed)[0]) for seed in range(20)}
    assert len(samples) > 1
    assert all(tokenizers.src.decode(s) == text for s in samples)
    assert tokenizers.src.sample_batch([text] * 3, 0.3, seed=5) == tokenizers.src.sample_batch([text] * 3, 0.3, seed=5)


def test_training_sample_is_seeded_and_bounded():
    sentences = [f"sentence {i}" for i in range(1000)]
    sample = training_sample(sentences, 100)
    assert len(sample) == 100 and sample == training_sample(sentences, 100)
    assert set(sample) <= set(sentences) and len(set(sample)) == 100
    assert training_sample(sentences, 5000) == sentences

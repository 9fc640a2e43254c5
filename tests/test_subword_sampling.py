"""Subword sampling (tokenizer.sampling): training text re-segmented per epoch, everything else deterministic."""
import json
import multiprocessing
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch

from conftest import assert_same_parameters, tiny_config, train_straight_and_resumed
from nmt.config import TokenizerConfig, load_config
from nmt.data import dataset
from nmt.data.batching import TokenBatchSampler, make_batch
from nmt.data.corpus import read_lines
from nmt.data.resegment import SampledPairs, segment_epoch, training_pairs
from nmt.decode.translate import Translator
from nmt.errors import NmtError
from nmt.export import load_model
from nmt.rundir import RunDir
from nmt.tokenize import train_tokenizers
from nmt.train.loop import Trainer

SIDES = ("src", "tgt")


@pytest.fixture(scope="module")
def unigram(run_dir):
    text = [read_lines(RunDir(run_dir).train_text(side)) for side in SIDES]
    return train_tokenizers(TokenizerConfig(type="unigram", vocab_size=320), *text)


@pytest.fixture(scope="module")
def corpus_sentence(run_dir):
    """The first four words of a training sentence: few enough segmentations to count their draws."""
    return " ".join(read_lines(RunDir(run_dir).train_text("src"))[0].split()[:4])


UNSEEN = ["Zürich, São Paulo and Kraków: déjà vu!", "東京と大阪に行きました。", "Привет", "x"]  # spelt in bytes


def _training_text(run_dir):
    """Both sides' training sentences, and characters the toy-trained models lack."""
    return [line for side in SIDES for line in read_lines(RunDir(run_dir).train_text(side))] + UNSEEN


@pytest.fixture
def sampled(run_dir):
    """SampledPairs(tokenizers, alpha, seed=42) of the run's training text; their workers stopped afterwards."""
    made = []

    def make(tokenizers, alpha, seed=42):
        made.append(SampledPairs(*(RunDir(run_dir).train_text(side) for side in SIDES), tokenizers, alpha, seed))
        return made[-1]

    yield make
    for pairs in made:
        pairs.close()


def _sentences(split):
    return [list(split[i]) for i in range(len(split))]


def test_bpe_dropout_at_rate_0_is_sentencepieces_encoding(run_dir, tokenizers):
    text = _training_text(run_dir)
    assert tokenizers.src.sample_batch(text, 0.0, seed=1) == tokenizers.src.encode_batch(text)


def test_unigram_sampling_at_a_large_alpha_is_sentencepieces_best_segmentation(run_dir, unigram):
    text = _training_text(run_dir)
    assert unigram.src.sample_batch(text, 100.0, seed=1) == unigram.src.encode_batch(text)


@pytest.mark.parametrize("kind, alpha", [("bpe", 0.3), ("unigram", 0.3)])
def test_segmentations_are_drawn_as_often_as_sentencepieces_own_sampler_draws_them(
        tokenizers, unigram, corpus_sentence, kind, alpha):
    """Same distribution as sentencepiece's `enable_sampling` (whose draws cannot be seeded across processes):
    total variation distance between 3000 draws of each, 0.02 to 0.05 from sampling noise alone."""
    tokenizer = {"bpe": tokenizers, "unigram": unigram}[kind].src
    ours = Counter(map(tuple, tokenizer.sample_batch([corpus_sentence] * 3000, alpha, seed=2)))
    theirs = Counter(map(tuple, tokenizer.sp.encode([corpus_sentence] * 3000, enable_sampling=True, alpha=alpha,
                                                    nbest_size=-1)))
    assert len(ours) > 3
    assert sum(abs(ours[k] - theirs[k]) for k in ours | theirs) / 2 / 3000 < 0.1


def test_another_process_draws_the_same_segmentations(tokenizers, run_dir, tmp_path):
    text = _training_text(run_dir)[:50]
    tokenizers.src.save(tmp_path, "joint")
    program = ("import json, sys; from nmt.tokenize.sentencepiece import SentencePieceTokenizer as T; "
               "tok = T.load(sys.argv[1], 'bpe'); print(json.dumps(tok.sample_batch(json.loads(sys.argv[2]), 0.3, "
               "seed=(42, 1, 0))))")
    out = subprocess.run([sys.executable, "-c", program, tmp_path / "joint.model", json.dumps(text)],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == tokenizers.src.sample_batch(text, 0.3, seed=(42, 1, 0))


@pytest.mark.parametrize("kind, alpha", [("bpe", 0.1), ("unigram", 0.3)])
def test_two_epochs_segment_the_same_sentence_differently(run_dir, tokenizers, unigram, kind, alpha, sampled):
    tokenizers = {"bpe": tokenizers, "unigram": unigram}[kind]
    pairs = sampled(tokenizers, alpha)
    text = read_lines(RunDir(run_dir).train_text("src"))
    epoch0, epoch1 = (_sentences(pairs.epoch(e)[0]) for e in (0, 1))
    assert epoch0[0] != epoch1[0]
    assert sum(a != b for a, b in zip(epoch0, epoch1)) > len(text) / 2
    assert [tokenizers.src.decode(ids) for ids in epoch1] == text  # other pieces, the same text


def test_the_same_seed_and_epoch_give_the_same_segmentation(run_dir, tokenizers, sampled):
    first = sampled(tokenizers, 0.1)
    epoch1 = [_sentences(split) for split in first.epoch(1)]
    first.epoch(2)  # draws in between change nothing
    again = sampled(tokenizers, 0.1)
    assert [_sentences(split) for split in again.epoch(1)] == epoch1
    assert [_sentences(split) for split in sampled(tokenizers, 0.1, seed=7).epoch(1)] != epoch1
    assert _sentences(first.epoch(1)[0]) != _sentences(first.epoch(1)[1])  # sides draw apart (joint model)


def test_the_next_epoch_is_segmented_in_a_worker_as_this_process_would_and_close_stops_it(tokenizers, sampled):
    before = set(multiprocessing.active_children())
    pairs = sampled(tokenizers, 0.1)
    pairs.epoch(0)
    worker = set(multiprocessing.active_children()) - before
    assert len(worker) == 1 and list(pairs.ahead) == [1]  # epoch 1 under way while epoch 0 trains
    for epoch in (1, 2):
        in_this_process = segment_epoch(pairs.sides, 0.1, 42, epoch)
        assert [_sentences(split) for split in pairs.epoch(epoch)] == [_sentences(split) for split in in_this_process]
    pairs.close()
    assert not worker & set(multiprocessing.active_children())


def test_without_sampling_every_epoch_reads_the_stored_ids(run_dir, tokenizers):
    pairs = training_pairs(RunDir(run_dir), tokenizers, sampling=0.0, seed=42)
    stored = dataset.load_split(RunDir(run_dir).data, "train")
    for epoch in (0, 3):
        assert [_sentences(split) for split in pairs.epoch(epoch)] == [_sentences(split) for split in stored]


def test_batches_follow_each_epochs_segmentation(run_dir, tokenizers, sampled):
    """Length bucketing measures the epoch's own pieces, so batches stay within the token budget."""
    sampler = TokenBatchSampler(sampled(tokenizers, 0.3), batch_tokens=300, seed=1)
    assert not np.array_equal(sampler.lengths(0), sampler.lengths(1))
    for epoch in (0, 1):
        lengths = sampler.lengths(epoch)
        batches = sampler.batches_of_epoch(epoch)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        assert all(lengths[b].max() * len(b) <= 300 for b in batches if len(b) > 1)


def test_training_batches_hold_their_epochs_pieces_and_validation_and_translate_never_sample(
        fresh_run_dir, toy_corpus):
    """13 batches an epoch, 5 an update: update 3 takes batches of epochs 0 and 1, each with its own pieces."""
    trainer = Trainer(tiny_config(toy_corpus, "tokenizer.sampling=0.3", "train.batch_tokens=2000",
                                  "train.accumulate=5", "train.limits.max_epochs=2"), fresh_run_dir)
    sources, update = [], trainer.update
    trainer.update = lambda batches, step: sources.extend(b.src for b in batches) or update(batches, step)
    trainer.run()
    plan = TokenBatchSampler(trainer.pairs, trainer.cfg.train.batch_tokens, trainer.cfg.train.seed)
    assert [len(plan.batches_of_epoch(epoch)) for epoch in (0, 1)] == [13, 13]
    batches = iter(plan)
    expected = [make_batch(*trainer.pairs.epoch(epoch), indices).src for epoch, indices in
                (next(batches) for _ in range(26))]
    trainer.pairs.close()  # the plan's reads started a worker again
    assert trainer.sampler.epoch == 2 and len(sources) == 26
    assert all(torch.equal(a, b) for a, b in zip(sources, expected))

    run = RunDir(fresh_run_dir)
    text, stored = read_lines(run.train_text("src"))[:50], dataset.load_split(run.data, "train")[0]
    model, exported_tokenizers, decode_cfg = load_model(run.best)
    for translator in (Translator(trainer.model, trainer.tokenizers, "cpu", trainer.cfg.decode),
                       Translator(model, exported_tokenizers, "cpu", decode_cfg)):
        for _ in range(2):
            assert [translator.encode_source(line) for line in text] == _sentences(stored)[:50]


def test_a_run_with_sampling_resumes_exactly(toy_corpus, run_dir, tmp_path):
    """12 batches an epoch, 5 an update: the resumed half starts in epoch 1, whose segmentation it must
    re-create, and update 3 takes batches of both epochs."""
    settings = ["tokenizer.sampling=0.1", "train.batch_tokens=2000", "train.accumulate=5",
                "train.validation.every=3", "train.validation.size=4"]
    straight, resumed = train_straight_and_resumed(toy_corpus, run_dir, tmp_path, settings, steps=6)
    assert straight.sampler.state() == resumed.sampler.state() == {"epoch": 2, "position": 6}
    assert_same_parameters(straight.model, resumed.model)


def test_preprocess_keeps_the_cleaned_training_text_under_the_manifest(run_dir, tokenizers):
    run = RunDir(run_dir)
    files = dataset.verify_manifest(run.root)["files"]
    assert {"data/train.src.txt", "data/train.tgt.txt"} <= set(files)
    src = dataset.load_split(run.data, "train")[0]
    assert tokenizers.src.encode_batch(read_lines(run.train_text("src"))) == _sentences(src)


def test_sampling_needs_the_training_text(run_dir, tokenizers, tmp_path):
    run = RunDir(tmp_path)
    run.data.mkdir()
    with pytest.raises(NmtError, match="no training text to re-segment for tokenizer.sampling"):
        training_pairs(run, tokenizers, sampling=0.1, seed=42)


@pytest.mark.parametrize("settings, message", [
    (["tokenizer.type=wordpiece", "tokenizer.vocab_size=100"], "applies to types bpe and unigram, not wordpiece"),
    (["tokenizer.type=char"], "applies to types bpe and unigram, not char"),
    (["tokenizer.type=word"], "applies to types bpe and unigram, not word"),
    (["tokenizer.sampling=1.0"], "bpe's dropout rate must be below 1"),
])
def test_kinds_that_cannot_sample_refuse_it_in_one_line(settings, message):
    with pytest.raises(NmtError, match=message):
        load_config(None, ["tokenizer.sampling=0.2", *settings])


def test_unigram_alpha_may_exceed_one():
    assert load_config(None, ["tokenizer.type=unigram", "tokenizer.sampling=2.0"]).tokenizer.sampling == 2.0

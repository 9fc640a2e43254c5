"""Search options, one unit each (min length, no-repeat-ngram, unk penalty, length normalisation),
the sampling decoder, exhaustive search as the reference a wide beam must match, and the decode section
as the one declaration of the options (flags, checks, the search it picks)."""
import argparse
import itertools

import pytest
import torch

from conftest import beam_search, greedy_search, make_transformer, sample_search
from nmt.cli import build_parser
from nmt.data.batching import pad
from nmt.decode.beam import BeamSearch
from nmt.decode.greedy import GreedySearch
from nmt.decode.options import BATCH_OPTIONS, SAMPLING_OPTIONS, SEARCH_OPTIONS, DecodeConfig, flag
from nmt.decode.penalties import length_penalty
from nmt.decode.rules import SearchRules, block_repeated_ngrams
from nmt.decode.sampling import SamplingSearch, draw, filter_log_probs, sentence_generator
from nmt.decode.translate import search_for
from nmt.tokenize.base import BOS_ID, EOS_ID, UNK_ID
from test_decode import (NEVER_ENDS, A, B, TableModel, eos_leaning_model, one_source, path_log_prob,
                         random_sources, rescore)

IMMEDIATE_EOS = {(): {EOS_ID: .9, A: .1}, "default": {EOS_ID: .6, B: .4}}


@pytest.mark.parametrize("min_len", [0, 1, 3])
def test_min_len_blocks_eos_until_that_many_tokens(min_len):
    model = TableModel({A: IMMEDIATE_EOS})
    rules = SearchRules(min_len=min_len)
    (tokens,), _ = greedy_search(model, one_source(), 0, 10, rules)
    assert len(tokens) == min_len
    (nbest,) = beam_search(model, one_source(), 2, 0.0, 0, 10, n_best=2, rules=rules)
    assert all(len(h.tokens) >= min_len for h in nbest)


def test_the_length_cap_wins_over_min_len():
    (tokens,), _ = greedy_search(TableModel({A: IMMEDIATE_EOS}), one_source(), 0, 2, SearchRules(min_len=5))
    assert len(tokens) == 2


def test_block_repeated_ngrams_forbids_exactly_the_completing_tokens():
    prefixes = torch.tensor([[BOS_ID, 4, 5, 4], [BOS_ID, 4, 4, 4]])
    blocked = block_repeated_ngrams(torch.zeros(2, 8), prefixes, 2)
    assert blocked[0].isinf().nonzero().flatten().tolist() == [5]   # 4 5 already seen after 4
    assert blocked[1].isinf().nonzero().flatten().tolist() == [4]   # 4 4 already seen
    assert not block_repeated_ngrams(torch.zeros(2, 8), prefixes, 4).isinf().any()  # too short for a 4-gram


@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram_output_never_repeats_an_ngram(n):
    model = TableModel({A: NEVER_ENDS})  # greedy alone would say A A A A A A
    rules = SearchRules(no_repeat_ngram=n)
    (tokens,), _ = greedy_search(model, one_source(), 0, 6, rules)
    (nbest,) = beam_search(model, one_source(), 3, 0.0, 0, 6, n_best=3, rules=rules)
    for output in [tokens] + [h.tokens for h in nbest]:
        ngrams = [tuple(output[i:i + n]) for i in range(len(output) - n + 1)]
        assert len(ngrams) == len(set(ngrams))
    assert tokens[:n] == [A] * n  # blocking starts only once an n-gram would repeat


def test_unk_penalty_lets_an_ordinary_token_beat_unk():
    table = {(): {UNK_ID: .5, A: .4, EOS_ID: .1}, "default": {EOS_ID: 1.0}}
    model = TableModel({A: table})
    (plain,), _ = greedy_search(model, one_source(), 0, 3)
    (penalised,), (score,) = greedy_search(model, one_source(), 0, 3, SearchRules(unk_penalty=1.0))
    assert plain == [UNK_ID] and penalised == [A]
    assert score == pytest.approx(path_log_prob(table, [A]), abs=1e-5)  # the penalty touched only UNK
    (nbest,) = beam_search(model, one_source(), 2, 0.0, 0, 3, n_best=1, rules=SearchRules(unk_penalty=1.0))
    assert nbest[0].tokens == [A]


def test_length_norms_side_by_side():
    lengths = torch.tensor([1.0, 2.0, 10.0])
    assert length_penalty(lengths, 1.0, "gnmt").tolist() == pytest.approx([1.0, 7 / 6, 2.5])
    assert length_penalty(lengths, 1.0, "plain").tolist() == pytest.approx([1.0, 2.0, 10.0])
    assert length_penalty(lengths, 0.0, "plain").tolist() == length_penalty(lengths, 0.0, "gnmt").tolist() == [1, 1, 1]


@pytest.mark.parametrize("length_norm", ["gnmt", "plain"])
def test_beam_ranks_by_the_chosen_length_norm(length_norm):
    model = eos_leaning_model(0)
    hyps = beam_search(model, pad(random_sources(0)), 4, 1.0, 1.0, 3, n_best=4, length_norm=length_norm)
    for nbest in hyps:
        for h in nbest:
            assert h.score == pytest.approx(h.log_prob / float(length_penalty(torch.tensor(len(h.tokens) + 1.0),
                                                                              1.0, length_norm)), abs=1e-5)
        assert [h.score for h in nbest] == sorted((h.score for h in nbest), reverse=True)


# --- a wide beam against exhaustive search --------------------------------------------------------

@pytest.mark.parametrize("lenpen", [0.0, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_wide_beam_scores_at_least_as_well_as_exhaustive_search(seed, lenpen):
    """Vocabulary of 7: UNK and three ordinary tokens may be emitted. With outputs of at most 3 tokens
    there are 1 + 4 + 16 + 64 = 85 of them; rescoring every one by teacher forcing gives the best."""
    model = make_transformer(seed=seed, src_vocab=7, tgt_vocab=7)
    source = [4, 5, 6, EOS_ID]
    (nbest,) = beam_search(model, torch.tensor([source]), 64, lenpen, 0, 3, n_best=1)
    emittable = [UNK_ID, 4, 5, 6]
    outputs = [list(o) for n in range(4) for o in itertools.product(emittable, repeat=n)]
    best = max(rescore(model, source, o) / ((5 + len(o) + 1) / 6) ** lenpen for o in outputs)
    assert nbest[0].score >= best - 1e-5


# --- sampling --------------------------------------------------------------------------------------

def test_filter_log_probs_temperature_top_k_top_p():
    log_probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    assert filter_log_probs(log_probs, 2.0, 0, 1.0).softmax(-1)[0].tolist() == pytest.approx(
        (torch.tensor([0.5, 0.3, 0.15, 0.05]) ** 0.5 / (torch.tensor([0.5, 0.3, 0.15, 0.05]) ** 0.5).sum()).tolist())
    assert filter_log_probs(log_probs, 1.0, 2, 1.0).isfinite()[0].tolist() == [True, True, False, False]
    # nucleus: the fewest tokens holding p; .5 alone does not reach .6, .5 + .3 does
    assert filter_log_probs(log_probs, 1.0, 0, 0.6).isfinite()[0].tolist() == [True, True, False, False]
    assert filter_log_probs(log_probs, 1.0, 0, 0.5).isfinite()[0].tolist() == [True, False, False, False]
    assert filter_log_probs(log_probs, 1.0, 0, 0.01).isfinite()[0].tolist() == [True, False, False, False]


def test_draw_follows_the_distribution_and_never_picks_a_forbidden_token():
    scores = torch.tensor([[0.0, 0.5, 0.3, 0.2]]).log()  # token 0 at -inf
    g = torch.Generator().manual_seed(0)
    counts = torch.bincount(torch.cat([draw(scores, [g]) for _ in range(4000)]), minlength=4)
    assert counts[0] == 0
    assert (counts[1:] / 4000).tolist() == pytest.approx([0.5, 0.3, 0.2], abs=0.03)


def test_sentence_generators_depend_on_seed_and_line():
    first = torch.rand(4, generator=sentence_generator(7, 3))
    assert torch.equal(first, torch.rand(4, generator=sentence_generator(7, 3)))
    assert not torch.equal(first, torch.rand(4, generator=sentence_generator(7, 4)))
    assert not torch.equal(first, torch.rand(4, generator=sentence_generator(8, 3)))


def test_sampling_is_reproducible_and_depends_on_the_seed():
    model = eos_leaning_model(0)
    src = pad(random_sources(0))
    lines = list(range(src.size(0)))
    runs = [sample_search(model, src, 1.0, 3, lines, seed=seed)[0] for seed in (1, 1, 2)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_sampling_with_top_k_one_is_greedy():
    model = eos_leaning_model(1)
    src = pad(random_sources(1))
    greedy = greedy_search(model, src, 1.0, 3)
    sampled = sample_search(model, src, 1.0, 3, list(range(src.size(0))), top_k=1, seed=5)
    assert sampled[0] == greedy[0]
    assert sampled[1] == pytest.approx(greedy[1], abs=1e-5)


def test_sampled_scores_are_the_models_log_probabilities():
    model = eos_leaning_model(2)
    sources = random_sources(2)
    tokens, scores = sample_search(model, pad(sources), 1.0, 3, list(range(len(sources))), temperature=1.5,
                                   seed=3)
    for source, output, score in zip(sources, tokens, scores):
        assert score == pytest.approx(rescore(model, source, output), abs=1e-4)


# --- one declaration: the decode section ---------------------------------------------------------------

@pytest.mark.parametrize("name", [*SEARCH_OPTIONS, *BATCH_OPTIONS, *SAMPLING_OPTIONS])
def test_every_decoding_flag_is_made_from_its_field_in_the_decode_section(name):
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    translate = commands["translate"]
    action = translate._option_string_actions[flag(name)]
    assert action.help == DecodeConfig.model_fields[name].description
    assert translate.parse_args(["--model", "m"]).__dict__[name] is None  # not given: the model's setting


@pytest.mark.parametrize("settings, search", [
    (dict(beam=1), GreedySearch), (dict(beam=3), BeamSearch), (dict(beam=1, n_best=1, sample=True), SamplingSearch),
    (dict(beam=5, sample=True), SamplingSearch)])  # the section's beam is unused when sampling
def test_the_decode_section_picks_the_search(settings, search):
    assert type(search_for(DecodeConfig(**settings))) is search


def test_sampling_with_n_best_is_refused_by_the_section():
    with pytest.raises(ValueError, match="sampling draws one output per line"):
        DecodeConfig(beam=3, n_best=2, sample=True)

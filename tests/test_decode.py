"""Greedy and beam search: properties on random tiny Transformers, exact cases on hand-written tables."""
import math

import pytest
import torch
import torch.nn.functional as F

from conftest import beam_search, greedy_search, make_transformer
from nmt.data.batching import pad
from nmt.decode.penalties import max_output_lengths
from nmt.decode.translate import Translator
from nmt.models import Seq2Seq, build_model
from nmt.models.state import DecodingState
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID

VOCAB = 13                     # ids 4..12 are ordinary tokens
SRC_LENGTHS = (1, 3, 6, 9, 4)  # tokens before EOS
MAX_LEN_A, MAX_LEN_B = 1.0, 3
SEEDS = [0, 1, 2]


def eos_leaning_model(seed):
    """A random tiny Transformer nudged towards EOS (bias of the final norm along EOS's output row),
    so that some hypotheses end on their own and others run into the length cap."""
    model = make_transformer(seed=seed, src_vocab=VOCAB, tgt_vocab=VOCAB, layers=2)
    with torch.no_grad():
        model.decoder_norm.bias.copy_(model.output.weight[EOS_ID])
    return model


def random_sources(seed, lengths=SRC_LENGTHS):
    g = torch.Generator().manual_seed(1000 + seed)
    return [torch.randint(4, VOCAB, (n,), generator=g).tolist() + [EOS_ID] for n in lengths]


def limits_of(sources):
    return max_output_lengths(torch.tensor([len(s) for s in sources]), MAX_LEN_A, MAX_LEN_B).tolist()


def rescore(model, source, tokens):
    """The model's own log-probability of `tokens` followed by EOS, by teacher forcing."""
    with torch.no_grad():
        logits = model(torch.tensor([source]), torch.tensor([[BOS_ID] + tokens]))
    log_probs = F.log_softmax(logits.float(), dim=-1)[0]
    return float(log_probs.gather(1, torch.tensor([tokens + [EOS_ID]]).T).sum())


# --- properties on random models ---------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_beam_size_one_is_greedy(seed):
    model = eos_leaning_model(seed)
    src = pad(random_sources(seed))
    tokens, scores = greedy_search(model, src, MAX_LEN_A, MAX_LEN_B)
    hyps = beam_search(model, src, beam=1, lenpen=0.0, max_len_a=MAX_LEN_A, max_len_b=MAX_LEN_B)
    assert [h[0].tokens for h in hyps] == tokens
    assert [h[0].log_prob for h in hyps] == pytest.approx(scores, abs=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
def test_greedy_is_independent_of_batch_padding(seed):
    model = eos_leaning_model(seed)
    sources = random_sources(seed)
    batch_tokens, batch_scores = greedy_search(model, pad(sources), MAX_LEN_A, MAX_LEN_B)
    for i, source in enumerate(sources):
        (tokens,), (score,) = greedy_search(model, torch.tensor([source]), MAX_LEN_A, MAX_LEN_B)
        assert batch_tokens[i] == tokens
        assert batch_scores[i] == pytest.approx(score, abs=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
def test_beam_is_independent_of_batch_padding(seed):
    model = eos_leaning_model(seed)
    sources = random_sources(seed)
    batched = beam_search(model, pad(sources), 5, 1.0, MAX_LEN_A, MAX_LEN_B, n_best=5)
    for i, source in enumerate(sources):
        (alone,) = beam_search(model, torch.tensor([source]), 5, 1.0, MAX_LEN_A, MAX_LEN_B, n_best=5)
        assert [h.tokens for h in batched[i]] == [h.tokens for h in alone]
        assert [h.score for h in batched[i]] == pytest.approx([h.score for h in alone], abs=1e-5)
        assert [h.log_prob for h in batched[i]] == pytest.approx([h.log_prob for h in alone], abs=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
def test_n_best_is_sorted_unique_and_complete(seed):
    model = eos_leaning_model(seed)
    sources = random_sources(seed)
    for lenpen in (0.0, 1.0):
        hyps = beam_search(model, pad(sources), 5, lenpen, MAX_LEN_A, MAX_LEN_B, n_best=5)
        assert len(hyps) == len(sources)
        for nbest, limit in zip(hyps, limits_of(sources)):
            assert len(nbest) == 5
            scores = [h.score for h in nbest]
            assert scores == sorted(scores, reverse=True)
            assert len({tuple(h.tokens) for h in nbest}) == 5
            for h in nbest:
                assert EOS_ID not in h.tokens
                assert len(h.tokens) <= limit
                assert h.score == pytest.approx(h.log_prob / ((5 + len(h.tokens) + 1) / 6) ** lenpen, abs=1e-5)
        # n_best=1 is the head of the n-best list
        firsts = beam_search(model, pad(sources), 5, lenpen, MAX_LEN_A, MAX_LEN_B, n_best=1)
        assert [f[0].tokens for f in firsts] == [h[0].tokens for h in hyps]


@pytest.mark.parametrize("seed", SEEDS)
def test_beam_log_prob_equals_rescoring_of_hypotheses_that_end_on_their_own(seed):
    model = eos_leaning_model(seed)
    sources = random_sources(seed)
    hyps = beam_search(model, pad(sources), 5, 1.0, MAX_LEN_A, MAX_LEN_B, n_best=5)
    checked = 0
    for source, nbest, limit in zip(sources, hyps, limits_of(sources)):
        for h in nbest:
            if len(h.tokens) < limit:  # the model chose EOS (capped ones: see the next test)
                assert h.log_prob == pytest.approx(rescore(model, source, h.tokens), abs=1e-4)
                checked += 1
    assert checked >= 3


def test_log_prob_of_capped_hypotheses_equals_rescoring():
    """A hypothesis cut at the length cap must still be scored with the model's own EOS probability
    (`Hypothesis.log_prob`: "sum of token log-probabilities, EOS included"), like every other one;
    otherwise capped hypotheses get EOS for free (log 1) and outrank ones that paid for their EOS."""
    capped = 0
    for seed in SEEDS:
        model = make_transformer(seed=seed, src_vocab=VOCAB, tgt_vocab=VOCAB, layers=2)  # rarely ends early
        sources = random_sources(seed)
        hyps = beam_search(model, pad(sources), 2, 0.0, MAX_LEN_A, MAX_LEN_B, n_best=2)
        greedy_tokens, greedy_scores = greedy_search(model, pad(sources), MAX_LEN_A, MAX_LEN_B)
        for source, nbest, limit, g_tokens, g_score in zip(sources, hyps, limits_of(sources),
                                                           greedy_tokens, greedy_scores):
            for h in nbest:
                if len(h.tokens) == limit:
                    capped += 1
                    assert h.log_prob == pytest.approx(rescore(model, source, h.tokens), abs=1e-4)
            if len(g_tokens) == limit:
                assert g_score == pytest.approx(rescore(model, source, g_tokens), abs=1e-4)
    assert capped >= 1


# --- exact cases on hand-written probability tables --------------------------------------------

A, B = 4, 5
TABLE_VOCAB = 6  # PAD UNK BOS EOS A B
FLOOR = 1e-6     # probability of every token a table does not mention


def table_log_probs(table, prefix):
    """Normalised log-probabilities (TABLE_VOCAB,) of the next token after `prefix` (tuple, no BOS)."""
    probs = torch.full((TABLE_VOCAB,), FLOOR, dtype=torch.float64)
    for token, p in table.get(prefix, table["default"]).items():
        probs[token] = p
    return (probs / probs.sum()).log()


def path_log_prob(table, tokens, with_eos=True):
    """Log-probability of a whole output, computed from the table alone (independently of the search)."""
    seq = list(tokens) + ([EOS_ID] if with_eos else [])
    return sum(float(table_log_probs(table, tuple(seq[:t]))[seq[t]]) for t in range(len(seq)))


class TableModel(Seq2Seq):
    """A fake decoder: the next-token distribution is a hand-written function of the prefix.

    `tables[src[0]]` holds the table of a source whose first token is src[0], so sentences of one
    batch can behave differently; the state carries the prefix so beam reordering is exercised."""

    def __init__(self, tables):
        super().__init__()
        self.tables = tables

    def encode(self, src):
        return DecodingState(rows={"which": src[:, 0].clone(), "prefix": torch.zeros(src.size(0), 0, dtype=torch.long)})

    def decode_step(self, prev_tokens, state):
        prefix = torch.cat([state.rows["prefix"], prev_tokens[:, None]], dim=1)
        assert torch.all(prefix[:, 0] == BOS_ID)
        rows = [table_log_probs(self.tables[int(w)], tuple(p[1:].tolist()))
                for w, p in zip(state.rows["which"], prefix)]
        return torch.stack(rows).float(), DecodingState(rows={"which": state.rows["which"], "prefix": prefix})


# Beam beats greedy. Greedy takes A (.5) then A (.4): P(A A) = .5 * .4 * 1 = .20.
# Beam 2: step 0 keeps A (.5) and B (.4); EOS (.1) ranks 3rd, so [] is *not* finished.
# Step 1: B EOS = .4 * .9 = .36 (finished), A A = .20, A B = .16, A EOS = .14.
# Step 2: A A EOS = .20 finishes second; the sentence is done. n-best: [B] (.36), [A A] (.20).
BEAM_BEATS_GREEDY = {
    (): {A: .5, B: .4, EOS_ID: .1},
    (A,): {A: .4, B: .32, EOS_ID: .28},
    (B,): {EOS_ID: .9, A: .05, B: .05},
    "default": {EOS_ID: 1.0},
}

# Length penalty decides. Step 0: A (.5), EOS (.3) -> [] finished with .3, beams A and B (.2).
# Step 1: A A .25, A B .20, B EOS .12, B A .08: the two best continue. Step 2: A A EOS = .25 finishes.
# Finished: [] (.3, 1 token with EOS) and [A A] (.25, 3 tokens with EOS).
# lenpen 0: log .3 > log .25 -> []. lenpen 1: log .3 / 1 = -1.20 < log .25 / (8/6) = -1.04 -> [A A].
LENGTH_PENALTY_DECIDES = {
    (): {EOS_ID: .3, A: .5, B: .2},
    (A,): {A: .5, B: .4, EOS_ID: .1},
    (B,): {EOS_ID: .6, A: .4},
    "default": {EOS_ID: 1.0},
}

NEVER_ENDS = {"default": {A: .7, B: .3}}  # EOS only at FLOOR probability


def one_source(first_token=A, length=3):
    return torch.tensor([[first_token] * length + [EOS_ID]])


def test_fake_model_beam_finds_a_better_sequence_than_greedy():
    model = TableModel({A: BEAM_BEATS_GREEDY})
    (greedy_tokens,), (greedy_score,) = greedy_search(model, one_source(), 0, 10)
    assert greedy_tokens == [A, A]
    assert greedy_score == pytest.approx(path_log_prob(BEAM_BEATS_GREEDY, [A, A]), abs=1e-5)
    (nbest,) = beam_search(model, one_source(), beam=2, lenpen=0.0, max_len_a=0, max_len_b=10, n_best=2)
    assert [h.tokens for h in nbest] == [[B], [A, A]]
    for h in nbest:
        expected = path_log_prob(BEAM_BEATS_GREEDY, h.tokens)
        assert h.log_prob == pytest.approx(expected, abs=1e-5)
        assert h.score == pytest.approx(expected, abs=1e-5)  # lenpen 0: score is the log-probability
    assert nbest[0].log_prob == pytest.approx(math.log(.4 * .9), abs=1e-4)
    assert nbest[0].log_prob > greedy_score


def test_fake_model_length_penalty_changes_the_winner():
    model = TableModel({A: LENGTH_PENALTY_DECIDES})
    (plain,) = beam_search(model, one_source(), beam=2, lenpen=0.0, max_len_a=0, max_len_b=10, n_best=2)
    assert [h.tokens for h in plain] == [[], [A, A]]
    (penalised,) = beam_search(model, one_source(), beam=2, lenpen=1.0, max_len_a=0, max_len_b=10, n_best=2)
    assert [h.tokens for h in penalised] == [[A, A], []]
    for h in penalised:
        log_prob = path_log_prob(LENGTH_PENALTY_DECIDES, h.tokens)
        assert h.log_prob == pytest.approx(log_prob, abs=1e-5)
        assert h.score == pytest.approx(log_prob / ((5 + len(h.tokens) + 1) / 6), abs=1e-5)


def test_fake_model_eos_ends_a_hypothesis_and_an_immediate_eos_gives_empty_output():
    table = {(): {EOS_ID: .9, A: .1}, "default": {EOS_ID: 1.0}}
    model = TableModel({A: table})
    (tokens,), (score,) = greedy_search(model, one_source(), 0, 10)
    assert tokens == [] and score == pytest.approx(path_log_prob(table, []), abs=1e-5)
    (nbest,) = beam_search(model, one_source(), beam=2, lenpen=1.0, max_len_a=0, max_len_b=10, n_best=2)
    assert [h.tokens for h in nbest] == [[], [A]]
    assert nbest[1].log_prob == pytest.approx(math.log(.1 / (1 + 4 * FLOOR)) + math.log(1 / (1 + 5 * FLOOR)),
                                              abs=1e-5)


def test_fake_model_sentences_of_a_batch_end_independently():
    """One sentence ends at once, one after two tokens, one never: each gets its own output."""
    tables = {A: {(): {EOS_ID: 1.0}, "default": {EOS_ID: 1.0}},
              B: {(): {B: .8, A: .2}, (B,): {A: .9, B: .1}, "default": {EOS_ID: 1.0}},
              6: NEVER_ENDS}  # (6 only selects a table: the fake model embeds no source)
    model = TableModel(tables)
    src = torch.tensor([[A, A, EOS_ID], [B, EOS_ID, PAD_ID], [6, EOS_ID, PAD_ID]])
    tokens, scores = greedy_search(model, src, 0, 4)
    assert tokens == [[], [B, A], [A, A, A, A]]
    hyps = beam_search(model, src, beam=2, lenpen=0.0, max_len_a=0, max_len_b=4, n_best=1)
    assert [h[0].tokens for h in hyps] == tokens
    for src_first, h in zip((A, B), hyps):
        assert h[0].log_prob == pytest.approx(path_log_prob(tables[src_first], h[0].tokens), abs=1e-5)


@pytest.mark.parametrize("cap", [1, 3, 5])
def test_fake_model_max_length_cap_forces_eos(cap):
    model = TableModel({A: NEVER_ENDS})
    (tokens,), _ = greedy_search(model, one_source(), max_len_a=0, max_len_b=cap)
    assert tokens == [A] * cap
    (nbest,) = beam_search(model, one_source(), beam=2, lenpen=1.0, max_len_a=0, max_len_b=cap, n_best=2)
    assert nbest[0].tokens == [A] * cap
    assert all(len(h.tokens) == cap for h in nbest)
    assert len({tuple(h.tokens) for h in nbest}) == 2


def test_fake_model_capped_hypothesis_pays_for_its_eos():
    """Cap 2. Step 1 keeps A A (.7 * .8 = .56) and finishes B EOS (.3 * .9 = .27). At the cap, A A may
    only end, but the model gives EOS after A A just FLOOR: P(A A EOS) ~ 6e-7, far below P(B EOS)."""
    table = {(): {A: .7, B: .3}, (A,): {A: .8, B: .2}, (B,): {EOS_ID: .9, A: .1}, "default": {A: .5, B: .5}}
    model = TableModel({A: table})
    (nbest,) = beam_search(model, one_source(), beam=2, lenpen=0.0, max_len_a=0, max_len_b=2, n_best=2)
    assert {tuple(h.tokens) for h in nbest} == {(B,), (A, A)}
    for h in nbest:
        assert h.log_prob == pytest.approx(path_log_prob(table, h.tokens), abs=1e-4)
    assert nbest[0].tokens == [B]


def test_fake_model_max_length_is_per_sentence_from_source_length():
    """Cap = floor(a * source length + b), the source length counting its EOS."""
    model = TableModel({A: NEVER_ENDS})
    src = pad([[A] * 1 + [EOS_ID], [A] * 4 + [EOS_ID], [A] * 2 + [EOS_ID]])  # lengths 2, 5, 3
    expected = [[A] * math.floor(1.5 * n + 1) for n in (2, 5, 3)]
    tokens, _ = greedy_search(model, src, max_len_a=1.5, max_len_b=1)
    assert tokens == expected
    hyps = beam_search(model, src, beam=2, lenpen=1.0, max_len_a=1.5, max_len_b=1, n_best=2)
    assert [h[0].tokens for h in hyps] == expected
    assert [len(h[1].tokens) for h in hyps] == [len(e) for e in expected]


# --- Translator: text in, text out ---------------------------------------------------------------

@pytest.fixture(scope="module")
def translator_parts(tokenizers, tiny_cfg):
    torch.manual_seed(0)
    model = build_model(tiny_cfg.model, tokenizers.src.vocab_size, tokenizers.tgt.vocab_size, tokenizers.joint)
    return model.eval(), tokenizers


LINES = ["The big dog sees a cat.", "", "   ", "A small bird likes my old house near the river today.",
         "\t \u3000", "Zürich ☃ 東京", "My friend draws a tree.", ""]


@pytest.mark.parametrize("beam", [1, 3])
def test_translator_keeps_line_alignment(translator_parts, beam):
    model, tokenizers = translator_parts
    translator = Translator(model, tokenizers, "cpu", beam=beam, max_len_a=1.0, max_len_b=3, batch_size=2)
    out = translator.translate(LINES)
    assert len(out) == len(LINES)
    for line, text in zip(LINES, out):
        if not line.strip():
            assert text == ""
    # batching and length-sorting change nothing: each line alone gives the same output
    assert out == [translator.translate([line])[0] for line in LINES]
    assert translator.translate([]) == []


def test_translator_n_best(translator_parts):
    model, tokenizers = translator_parts
    translator = Translator(model, tokenizers, "cpu", beam=3, n_best=3, max_len_a=1.0, max_len_b=3)
    results = translator.translate_nbest(LINES)
    assert len(results) == len(LINES)
    for line, nbest in zip(LINES, results):
        assert len(nbest) == 3  # the same number of columns for every line, empty ones included
        if line.strip():
            scores = [t.score for t in nbest]
            assert scores == sorted(scores, reverse=True)
            assert all(t.text == tokenizers.tgt.decode(t.tokens) for t in nbest)
        else:
            assert [t.text for t in nbest] == ["", "", ""]


def test_a_copy_task_is_learnt_to_near_zero_loss_and_decoded_back_exactly():
    """The model, its loss and both searches together: a small Transformer learns to copy 3-6 random
    tokens, then greedy and beam search reproduce inputs it never saw."""
    from conftest import random_tokens
    from nmt.train.losses import label_smoothed_cross_entropy

    model = make_transformer(seed=0, d_model=64, heads=4, layers=2, ff_size=128, dropout=0.0, share_embeddings=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1)

    def sequences(n):
        return [random_tokens(generator, int(torch.randint(3, 7, (1,), generator=generator))) for _ in range(n)]

    model.train()
    for _ in range(800):
        batch = sequences(64)
        src, tgt_in, tgt_out = (pad([s + [EOS_ID] for s in batch]), pad([[BOS_ID] + s for s in batch]),
                                pad([s + [EOS_ID] for s in batch]))
        loss = label_smoothed_cross_entropy(model(src, tgt_in), tgt_out, 0.0) / int((tgt_out != PAD_ID).sum())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.05
    unseen = sequences(32)
    src = pad([s + [EOS_ID] for s in unseen])
    greedy, _ = greedy_search(model, src, max_len_a=1.0, max_len_b=2)
    assert greedy == unseen
    assert [nbest[0].tokens for nbest in beam_search(model, src, 4, 1.0, 1.0, 2)] == unseen

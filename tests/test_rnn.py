"""The BiLSTM + attention model: masking, incremental decoding, decoding properties, init, reversal."""
import json
from pathlib import Path

import pytest
import torch

from conftest import (VOCAB, assert_step_decoding_matches_forward, beam_search, example_batch, greedy_search,
                      make_rnn, make_transformer, tiny_config)
from nmt.config import DecodeConfig, load_config
from nmt.data.batching import pad
from nmt.decode.translate import Translator
from nmt.errors import NmtError
from nmt.export import export_model, load_model
from nmt.models import build_model
from nmt.models.base import reverse_source_tokens
from nmt.models.build import RNNConfig
from nmt.models.rnn import Attention, RNNModel, word_dropout
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from nmt.train.loop import Trainer
from nmt.train.losses import label_smoothed_cross_entropy

ATTENTIONS = ["additive", "dot", "general"]
MAX_LEN_A, MAX_LEN_B = 1.0, 3
SRC_LENGTHS = (1, 3, 6, 9, 4)  # tokens before EOS


# model variants every property must hold for
VARIANTS = {
    "additive": dict(attention="additive"),
    "dot": dict(attention="dot"),
    "general": dict(attention="general", tie_output=False),
    "no_input_feeding": dict(input_feeding=False),
    "deep_residual_norm": dict(encoder_layers=2, decoder_layers=3, residual=True, layer_norm=True),
    "deep_no_input_feeding": dict(decoder_layers=2, residual=True, layer_norm=True, input_feeding=False),
    "shared_emb_eq_hidden": dict(embedding_dim=12, share_embeddings=True),
    "reversed": dict(reverse_source=True, attention="general"),
}


# --- source reversal ------------------------------------------------------------------------------

def test_reverse_source_tokens_on_a_hand_written_batch():
    src = torch.tensor([[5, 6, 7, EOS_ID, PAD_ID, PAD_ID],
                        [8, EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID],
                        [EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID],
                        [4, 5, 6, 7, 8, EOS_ID],
                        [9, 10, PAD_ID, PAD_ID, PAD_ID, PAD_ID]])  # no EOS: every real token is reversed
    expected = torch.tensor([[7, 6, 5, EOS_ID, PAD_ID, PAD_ID],
                             [8, EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID],
                             [EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID],
                             [8, 7, 6, 5, 4, EOS_ID],
                             [10, 9, PAD_ID, PAD_ID, PAD_ID, PAD_ID]])
    assert torch.equal(reverse_source_tokens(src), expected)
    assert torch.equal(reverse_source_tokens(expected), src)  # an involution
    assert torch.equal(src[0], torch.tensor([5, 6, 7, EOS_ID, PAD_ID, PAD_ID]))  # input untouched


@pytest.mark.parametrize("family", ["rnn", "transformer"])
def test_reverse_source_is_applied_inside_the_model(family):
    """A reversed-source model reads src exactly as the same weights read reverse(src), in teacher
    forcing (training) and in decoding alike; the target is never reversed."""
    make = make_rnn if family == "rnn" else make_transformer
    plain, reversed_ = make(seed=3), make(seed=3)
    reversed_.reverse_source = True
    src, tgt_in = example_batch(seed=3)
    flipped = reverse_source_tokens(src)
    assert not torch.equal(flipped, src)
    with torch.no_grad():
        torch.testing.assert_close(reversed_(src, tgt_in), plain(flipped, tgt_in), rtol=0, atol=1e-6)
        assert (reversed_(src, tgt_in) - plain(src, tgt_in)).abs().max() > 1e-4
    assert greedy_search(reversed_, src, 1.0, 3) == greedy_search(plain, flipped, 1.0, 3)


def test_reversed_rnn_exports_and_translates_identically(tokenizers, tmp_path):
    cfg = RNNConfig(embedding_dim=16, hidden=16, dropout=0.0, emb_dropout=0.0, reverse_source=True)
    torch.manual_seed(0)
    model = build_model(cfg, tokenizers.src.vocab_size, tokenizers.tgt.vocab_size, tokenizers.joint).eval()
    assert model.reverse_source
    export_model(tmp_path / "best", model, cfg, DecodeConfig(), tokenizers)
    assert json.loads((tmp_path / "best" / "config.json").read_text())["model"]["reverse_source"] is True
    loaded, loaded_tokenizers, _ = load_model(tmp_path / "best")
    assert isinstance(loaded, RNNModel) and loaded.reverse_source
    lines = ["The big dog sees a cat.", "", "My friend draws a tree near the old house."]
    for beam in (1, 3):
        ours = Translator(model, tokenizers, "cpu", beam=beam, max_len_a=1.0, max_len_b=3).translate_nbest(lines)
        theirs = Translator(loaded, loaded_tokenizers, "cpu", beam=beam, max_len_a=1.0,
                            max_len_b=3).translate_nbest(lines)
        assert [(t[0].tokens, t[0].score) for t in ours] == [(t[0].tokens, t[0].score) for t in theirs]


def test_trained_reversed_rnn_best_model_translates_like_the_trainer(fresh_run_dir, toy_corpus):
    """Through the real loop: train reads batches reversed, validation and the exported best/ too."""
    settings = ["model.reverse_source=true", "model.word_dropout=0.1", "train.limits.max_steps=2",
                "train.validation.every=2", "train.validation.size=4"]
    trainer = Trainer(tiny_config(toy_corpus, *settings, family="rnn"), fresh_run_dir)
    trainer.run()
    model, tokenizers, decode_cfg = load_model(fresh_run_dir / "best")
    assert isinstance(model, RNNModel) and model.reverse_source
    lines = trainer.valid_src

    def translate(m, toks):
        return Translator(m, toks, "cpu", decode_cfg, beam=2, n_best=1).translate(lines)

    assert translate(model, tokenizers) == translate(trainer.model, trainer.tokenizers)


# --- attention and masking ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ATTENTIONS)
def test_attention_weights_sum_to_one_and_are_zero_on_padding(kind):
    torch.manual_seed(0)
    attention = Attention(kind, 8)
    memory, query = torch.randn(3, 5, 8) * 3, torch.randn(3, 8) * 3
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    context, weights = attention(query, attention.keys(memory), memory, mask)
    assert weights.shape == (3, 5) and context.shape == (3, 8)
    assert torch.all(weights[~mask] == 0)
    assert torch.all(weights[mask] > 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3), rtol=0, atol=1e-6)
    # whatever sits in the padded memory positions, the context is the same
    noisy = memory.clone()
    noisy[~mask] = torch.randn(int((~mask).sum()), 8) * 100
    noisy_context, _ = attention(query, attention.keys(noisy), noisy, mask)
    torch.testing.assert_close(noisy_context, context, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ATTENTIONS)
def test_model_attention_is_zero_on_padding_at_every_step(kind):
    model = make_rnn(seed=1, attention=kind)
    src, tgt_in = example_batch(seed=1)
    seen = []
    handle = model.attention.register_forward_hook(lambda _m, _i, out: seen.append(out[1]))
    with torch.no_grad():
        model(src, tgt_in)
    handle.remove()
    assert len(seen) == tgt_in.size(1)
    real = src != PAD_ID
    for weights in seen:
        assert torch.all(weights[~real] == 0)
        torch.testing.assert_close(weights.sum(-1), torch.ones(src.size(0)), rtol=0, atol=1e-6)


@pytest.mark.parametrize("variant", ["additive", "deep_residual_norm", "reversed"])
def test_encoder_output_alone_equals_in_a_padded_batch(variant):
    model = make_rnn(seed=2, **VARIANTS[variant])
    src, _ = example_batch(seed=2, src_lengths=(5, 2, 7))
    with torch.no_grad():
        encoded = model.encode(src)
        batched = {**encoded.source, **encoded.rows}
        for i in range(src.size(0)):
            n = int((src[i] != PAD_ID).sum())
            alone = model.encode(src[i:i + 1, :n])
            alone = {**alone.source, **alone.rows}
            for name in alone:
                torch.testing.assert_close(batched[name][i:i + 1, :n] if name in ("memory", "keys", "mask")
                                           else batched[name][i:i + 1], alone[name], rtol=0, atol=1e-6)
            assert torch.all(batched["memory"][i, n:] == 0)  # padding never went through the LSTM


def test_no_gradient_reaches_padded_source_positions():
    model = make_rnn(seed=6, encoder_layers=2, residual=True)
    model.train()  # dropout is 0: the training graph, deterministically
    src, tgt_in = example_batch(src_lengths=(5, 2, 7))
    outputs = []

    def keep(_module, _inputs, output):
        output.retain_grad()
        outputs.append(output)

    handle = model.src_embed.register_forward_hook(keep)
    logits = model(src, tgt_in)
    handle.remove()
    (logits * torch.randn(logits.shape, generator=torch.Generator().manual_seed(0))).sum().backward()
    grad_norm = outputs[0].grad.abs().sum(-1)  # (B, S)
    padded = src == PAD_ID
    assert padded.any()
    assert torch.all(grad_norm[padded] == 0)
    assert torch.all(grad_norm[~padded] > 0)


# --- incremental decoding -------------------------------------------------------------------------

@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_incremental_decoding_equals_full_forward(variant):
    model = make_rnn(seed=4, **VARIANTS[variant])
    assert_step_decoding_matches_forward(model, *example_batch(seed=4, src_lengths=(6, 3, 1), tgt_len=7))


def test_incremental_decoding_survives_state_reordering():
    model = make_rnn(seed=5, decoder_layers=2)
    assert_step_decoding_matches_forward(model, *example_batch(src_lengths=(6, 3, 4), tgt_len=5),
                                         reorder=torch.tensor([2, 0, 0, 1]))


# --- decoding properties --------------------------------------------------------------------------

def eos_leaning_rnn(seed, **kwargs):
    """A random tiny RNN nudged towards EOS (the tied projection's bias along EOS's embedding), so that
    some hypotheses end on their own and others run into the length cap."""
    model = make_rnn(seed=seed, decoder_layers=2, **kwargs)
    with torch.no_grad():
        model.pre_output.bias.copy_(0.1 * model.tgt_embed.weight[EOS_ID])
    return model


def random_sources(seed, lengths=SRC_LENGTHS):
    g = torch.Generator().manual_seed(1000 + seed)
    return [torch.randint(4, VOCAB, (n,), generator=g).tolist() + [EOS_ID] for n in lengths]


@pytest.mark.parametrize("seed, attention", [(0, "additive"), (1, "dot"), (2, "general")])
def test_beam_size_one_is_greedy(seed, attention):
    model = eos_leaning_rnn(seed, attention=attention)
    src = pad(random_sources(seed))
    tokens, scores = greedy_search(model, src, MAX_LEN_A, MAX_LEN_B)
    hyps = beam_search(model, src, beam=1, lenpen=0.0, max_len_a=MAX_LEN_A, max_len_b=MAX_LEN_B)
    assert [h[0].tokens for h in hyps] == tokens
    assert [h[0].log_prob for h in hyps] == pytest.approx(scores, abs=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_decoding_is_independent_of_batch_padding(seed):
    model = eos_leaning_rnn(seed, reverse_source=bool(seed))
    sources = random_sources(seed)
    greedy_tokens, greedy_scores = greedy_search(model, pad(sources), MAX_LEN_A, MAX_LEN_B)
    batched = beam_search(model, pad(sources), 4, 1.0, MAX_LEN_A, MAX_LEN_B, n_best=4)
    for i, source in enumerate(sources):
        one = torch.tensor([source])
        (tokens,), (score,) = greedy_search(model, one, MAX_LEN_A, MAX_LEN_B)
        assert greedy_tokens[i] == tokens and greedy_scores[i] == pytest.approx(score, abs=1e-5)
        (alone,) = beam_search(model, one, 4, 1.0, MAX_LEN_A, MAX_LEN_B, n_best=4)
        assert [h.tokens for h in batched[i]] == [h.tokens for h in alone]
        assert [h.score for h in batched[i]] == pytest.approx([h.score for h in alone], abs=1e-5)


# --- initialisation, tying, regularisation ---------------------------------------------------------

def lstm_weights(model):
    """(name, weight_hh, bias_ih, bias_hh) of every recurrence: both encoder directions, every cell."""
    found = []
    for module_name, module in model.named_modules():
        if isinstance(module, (torch.nn.LSTM, torch.nn.LSTMCell)):
            params = dict(module.named_parameters())
            for name in params:
                if name.startswith("weight_hh"):
                    suffix = name[len("weight_hh"):]
                    found.append((f"{module_name}.{name}", params[name], params["bias_ih" + suffix],
                                  params["bias_hh" + suffix]))
    return found


@pytest.mark.parametrize("init", ["xavier", "uniform", "normal"])
def test_init_orthogonal_recurrence_and_forget_bias_one(init):
    model = make_rnn(seed=7, hidden=16, encoder_layers=2, decoder_layers=2, init=init)
    found = lstm_weights(model)
    assert len(found) == 2 * 2 + 2  # two bidirectional encoder layers, two decoder cells
    for name, weight_hh, bias_ih, bias_hh in found:
        hidden = weight_hh.size(1)
        assert weight_hh.shape == (4 * hidden, hidden), name
        for block in weight_hh.detach().split(hidden):  # gates: input, forget, cell, output
            torch.testing.assert_close(block @ block.T, torch.eye(hidden), rtol=0, atol=1e-5)
        total = (bias_ih + bias_hh).detach().split(hidden)
        assert torch.all(total[1] == 1), name
        assert all(torch.all(b == 0) for i, b in enumerate(total) if i != 1), name
    feed_forward = model.bridge_h.weight
    if init == "uniform":
        assert feed_forward.abs().max() <= 0.1
    elif init == "normal":
        assert feed_forward.std().item() == pytest.approx(0.01, rel=0.2)
    assert torch.all(model.bridge_h.bias == 0)
    assert torch.all(model.src_embed.weight[PAD_ID] == 0)


def tiny_rnn_cfg(**changes):
    return RNNConfig(embedding_dim=8, hidden=12, **changes)


def test_three_way_tying_and_the_projection_to_embedding_size():
    model = build_model(tiny_rnn_cfg(), 50, 50, joint_vocab=True)
    assert isinstance(model, RNNModel)
    assert model.src_embed.weight is model.tgt_embed.weight is model.output.weight
    assert isinstance(model.pre_output, torch.nn.Linear) and model.pre_output.weight.shape == (8, 12)
    separate = build_model(tiny_rnn_cfg(), 50, 60, joint_vocab=False)
    assert separate.src_embed.weight is not separate.tgt_embed.weight
    assert separate.output.weight is separate.tgt_embed.weight
    untied = build_model(tiny_rnn_cfg(tie_output=False, tie_source=False), 50, 50, joint_vocab=True)
    assert untied.output.weight is not untied.tgt_embed.weight
    assert untied.src_embed.weight is not untied.tgt_embed.weight
    assert untied.output.weight.shape == (50, 12) and isinstance(untied.pre_output, torch.nn.Identity)


def test_word_dropout_replaces_only_ordinary_tokens_and_only_in_training():
    tokens = torch.tensor([[BOS_ID] + list(range(4, 13)) * 20 + [EOS_ID, PAD_ID, PAD_ID]])
    assert torch.equal(word_dropout(tokens, 0.5, training=False), tokens)
    torch.manual_seed(0)
    dropped = word_dropout(tokens, 0.5, training=True)
    changed = dropped != tokens
    assert torch.all(dropped[changed] == UNK_ID)
    assert torch.all(tokens[changed] > EOS_ID)  # never PAD, BOS or EOS
    assert 0.3 < changed.float().sum() / 180 < 0.7


def test_dropouts_are_off_in_eval_mode():
    model = make_rnn(seed=8, dropout=0.3, emb_dropout=0.3, word_dropout=0.3, decoder_layers=2)
    src, tgt_in = example_batch(seed=8)
    with torch.no_grad():
        torch.manual_seed(1)
        first = model(src, tgt_in)
        torch.manual_seed(2)
        assert torch.equal(model(src, tgt_in), first)
        model.train()
        torch.manual_seed(1)
        assert not torch.equal(model(src, tgt_in), first)


def test_bf16_autocast_training_step_runs_with_the_loss_in_fp32():
    model = make_rnn(seed=9, decoder_layers=2, layer_norm=True, residual=True).train()
    src, tgt_in = example_batch(seed=9)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(src, tgt_in)
    target = tgt_in.roll(-1, dims=1)
    loss = label_smoothed_cross_entropy(logits, target, 0.1)  # outside autocast, as TrainingLoss.forward
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32
    # the loss is the fp32 loss of the bf16 logits, not a bf16 sum (which would round it to 3 digits)
    assert loss.item() == label_smoothed_cross_entropy(logits.float(), target, 0.1).item()
    loss.backward()
    assert logits.shape == (3, tgt_in.size(1), VOCAB)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


# --- config ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("override, key", [
    ("model.type=gru", "model.type"),
    ("model.attention=bilinear", "model.attention"),
    ("model.init=kaiming", "model.init"),
    ("model.hidden=15", "model.hidden"),
    ("model.word_dropout=1.0", "model.word_dropout"),
    ("model.emb_dropout=-0.1", "model.emb_dropout"),
    ("model.decoder_layers=0", "model.decoder_layers"),
])
def test_impossible_rnn_settings_are_rejected(override, key):
    with pytest.raises(NmtError) as e:
        load_config(None, ["model.type=rnn", override])
    assert key in str(e.value)


def test_bilstm_recipe_loads():
    cfg = load_config(Path(__file__).parents[1] / "configs" / "multi30k_de_en_bilstm.yaml")
    assert cfg.model.type == "rnn" and cfg.model.attention == "additive" and cfg.model.input_feeding
    assert cfg.tokenizer.joint and cfg.train.compute.precision == "auto"

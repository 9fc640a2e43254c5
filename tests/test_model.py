"""Transformer masking, incremental decoding and weight tying."""
import pytest
import torch
import torch.nn.functional as F

from conftest import VOCAB, assert_step_decoding_matches_forward, example_batch, make_transformer
from nmt.models.build import TransformerConfig
from nmt.models import build_model
from nmt.tokenize.base import PAD_ID



@pytest.mark.parametrize("pre_norm", [True, False])
def test_causal_mask_hides_the_future(pre_norm):
    model = make_transformer(seed=1, layers=2, pre_norm=pre_norm)
    src, tgt_in = example_batch()
    j = 3
    changed = tgt_in.clone()
    changed[:, j] = 4 + (changed[:, j] - 4 + 1) % (VOCAB - 4)  # a different ordinary token
    with torch.no_grad():
        before, after = model(src, tgt_in), model(src, changed)
    torch.testing.assert_close(after[:, :j], before[:, :j], rtol=0, atol=1e-6)
    # position j reads token j, and so does everything after it
    for t in range(j, tgt_in.size(1)):
        assert (after[:, t] - before[:, t]).abs().max() > 1e-3


@pytest.mark.parametrize("pre_norm", [True, False])
def test_source_padding_changes_nothing(pre_norm):
    model = make_transformer(seed=2, layers=2, pre_norm=pre_norm)
    src, tgt_in = example_batch(src_lengths=(4,))
    padded = torch.cat([src, torch.full((1, 5), PAD_ID)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(padded, tgt_in), model(src, tgt_in), rtol=0, atol=1e-5)


def test_sentence_in_a_padded_batch_equals_sentence_alone():
    model = make_transformer(seed=3, layers=2)
    src, tgt_in = example_batch(src_lengths=(5, 2, 7))
    with torch.no_grad():
        batched = model(src, tgt_in)
        for i in range(src.size(0)):
            alone = src[i:i + 1, : int((src[i] != PAD_ID).sum())]
            torch.testing.assert_close(batched[i:i + 1], model(alone, tgt_in[i:i + 1]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("pre_norm", [True, False])
def test_incremental_decoding_equals_full_forward(pre_norm):
    model = make_transformer(seed=4, layers=2, pre_norm=pre_norm, share_embeddings=True)
    assert_step_decoding_matches_forward(model, *example_batch(src_lengths=(6, 3, 1), tgt_len=7))


def test_incremental_decoding_survives_state_reordering():
    """Beam search reorders and repeats state rows; each row must keep decoding its own prefix."""
    model = make_transformer(seed=5, layers=2)
    assert_step_decoding_matches_forward(model, *example_batch(src_lengths=(6, 3, 4), tgt_len=5),
                                         reorder=torch.tensor([2, 0, 0, 1]))


@pytest.mark.parametrize("reorder", [[0, 0, 0, 1, 1, 1, 2, 2, 2],  # beam search's layout: 3 beams per sentence
                                     [0, 0, 2, 2]])                  # sentence 1 left the batch
def test_beams_read_their_sentences_source_rows_without_copies(reorder):
    model = make_transformer(seed=6, layers=2)
    src, tgt_in = example_batch(src_lengths=(6, 3, 4), tgt_len=5)
    assert_step_decoding_matches_forward(model, src, tgt_in, reorder=torch.tensor(reorder))
    with torch.no_grad():
        state = model.encode(src)
        selected = state.select(torch.tensor(reorder))
    kept = sorted(set(reorder))
    assert len(state.source) == 1 + 2 * 2  # the mask, keys and values of each decoder layer
    for name, tensor in state.source.items():
        if kept == [0, 1, 2]:
            assert selected.source[name] is tensor  # shared by the beams, not copied for each
        else:
            assert torch.equal(selected.source[name], tensor[kept])  # compacted once sentences leave
    assert selected.source_row.tolist() == [kept.index(row) for row in reorder]


@pytest.mark.parametrize("reorder, beams", [([0, 0, 0, 1, 1, 1, 2, 2, 2], 3),  # the first step's layout
                                           ([0, 0, 2, 2], 2)])                 # sentence 1 left the batch
def test_a_reorder_that_keeps_the_beam_layout_needs_no_source_rows(reorder, beams):
    """Beam search keeps its layout (`reorder`): each row's source row then follows from the layout, so
    nothing of the index is read back (a wait on a GPU), and it decodes as the general `select`."""
    model = make_transformer(seed=6, layers=2)
    src, tgt_in = example_batch(src_lengths=(6, 3, 4), tgt_len=5)
    assert_step_decoding_matches_forward(model, src, tgt_in, reorder=torch.tensor(reorder), beams=beams)
    with torch.no_grad():
        state = model.encode(src)
        general = state.select(torch.tensor(reorder))
        declared = state.reorder(torch.tensor(reorder), beams)
    assert declared.source_row is None and general.source_row is not None
    for name, tensor in state.source.items():
        assert torch.equal(declared.source[name], general.source[name])
        assert (declared.source[name] is tensor) == (len(set(reorder)) == 3)  # copied only to compact


@pytest.mark.parametrize("change", ["reorder", "select"])
def test_reordering_leaves_the_self_attention_history_in_place_until_the_next_step(change):
    """Beam search changes rows twice between steps (new beams, then finished sentences leave): the cached
    keys and values stay where they are, the row indices compose, and the next step decodes each row's prefix."""
    model = make_transformer(seed=7, layers=2)
    src, tgt_in = example_batch(src_lengths=(6, 3, 4), tgt_len=4)
    beams, leave = torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 4, 5])  # sentence 1 leaves
    with torch.no_grad():
        expected = F.log_softmax(model(src, tgt_in), dim=-1)
        _, state = model.decode_step(tgt_in[:, 0], model.encode(src))
        if change == "reorder":
            reordered = state.reorder(beams, beams=2).reorder(leave)
        else:
            reordered = state.select(beams).select(leave)
        assert len(state.history) == 2 * 2
        assert all(reordered.history[name] is tensor for name, tensor in state.history.items())
        rows = beams[leave]
        assert reordered.history_row.tolist() == rows.tolist()
        log_probs, after = model.decode_step(tgt_in[rows, 1], reordered)
    torch.testing.assert_close(log_probs, expected[rows, 1], rtol=0, atol=1e-5)
    assert all(tensor.size(0) == len(rows) for tensor in after.history.values())


def _embedding_outputs(model, module):
    """Record (with retained gradients) every output of embedding `module` during a forward pass."""
    outputs = []

    def hook(_module, _inputs, output):
        output.retain_grad()
        outputs.append(output)

    return outputs, module.register_forward_hook(hook)


@pytest.mark.parametrize("pre_norm", [True, False])
def test_no_gradient_reaches_padded_source_positions(pre_norm):
    model = make_transformer(seed=6, layers=2, pre_norm=pre_norm, share_embeddings=False)
    model.train()  # dropout is 0: the training graph, deterministically
    src, tgt_in = example_batch(src_lengths=(5, 2, 7))
    outputs, handle = _embedding_outputs(model, model.src_embed)
    logits = model(src, tgt_in)
    handle.remove()
    weights = torch.randn(logits.shape, generator=torch.Generator().manual_seed(0))
    (logits * weights).sum().backward()
    (src_out,) = outputs
    grad_norm = src_out.grad.abs().sum(-1)  # (B, S)
    padded = src == PAD_ID
    assert padded.any()
    assert torch.all(grad_norm[padded] == 0)
    assert torch.all(grad_norm[~padded] > 0)


def test_no_gradient_reaches_future_target_positions():
    model = make_transformer(seed=7, layers=2, share_embeddings=False)
    src, tgt_in = example_batch(src_lengths=(5, 2, 7), tgt_len=6)
    outputs, handle = _embedding_outputs(model, model.tgt_embed)
    logits = model(src, tgt_in)
    handle.remove()
    (tgt_out,) = outputs
    t = 2
    logits[:, t].sum().backward()  # the prediction at position t may use inputs 0..t only
    grad_norm = tgt_out.grad.abs().sum(-1)
    assert torch.all(grad_norm[:, t + 1:] == 0)
    assert torch.all(grad_norm[:, :t + 1] > 0)


def test_pad_embedding_gets_no_gradient():
    """(Untied: with tied output weights the PAD row is also an output row and learns as one.)"""
    model = make_transformer(seed=8, share_embeddings=True, tie_output=False)
    model.train()
    src, tgt_in = example_batch(src_lengths=(5, 2, 7))
    tgt_in[1, 4:] = PAD_ID
    model(src, tgt_in).sum().backward()
    assert torch.all(model.src_embed.weight.grad[PAD_ID] == 0)


def tiny_model_cfg(**changes):
    return TransformerConfig(d_model=16, heads=2, encoder_layers=1, decoder_layers=1, ff_size=32, **changes)


def unique_parameter_count(model):
    return len({id(p) for p in model.parameters()})


def test_three_way_tying_with_a_joint_vocabulary():
    model = build_model(tiny_model_cfg(), 50, 50, joint_vocab=True)
    assert model.src_embed.weight is model.tgt_embed.weight
    assert model.output.weight is model.tgt_embed.weight
    assert model.src_embed.weight is model.output.weight
    untied = build_model(tiny_model_cfg(tie_output=False, tie_source=False), 50, 50, joint_vocab=True)
    assert unique_parameter_count(untied) - unique_parameter_count(model) == 2
    # one tensor really: an update through one name is seen through the others
    with torch.no_grad():
        model.output.weight[7, 0] = 123.0
    assert model.src_embed.weight[7, 0] == 123.0


def test_no_source_tying_with_separate_vocabularies():
    model = build_model(tiny_model_cfg(), 50, 60, joint_vocab=False)
    assert model.src_embed.weight is not model.tgt_embed.weight
    assert model.src_embed.weight is not model.output.weight
    assert model.output.weight is model.tgt_embed.weight  # tie_output still ties the target side
    assert model.src_embed.weight.shape[0] == 50 and model.output.weight.shape[0] == 60


def test_tie_switches_are_honoured():
    no_source = build_model(tiny_model_cfg(tie_source=False), 50, 50, joint_vocab=True)
    assert no_source.src_embed.weight is not no_source.tgt_embed.weight
    assert no_source.output.weight is no_source.tgt_embed.weight
    no_output = build_model(tiny_model_cfg(tie_output=False), 50, 50, joint_vocab=True)
    assert no_output.src_embed.weight is no_output.tgt_embed.weight
    assert no_output.output.weight is not no_output.tgt_embed.weight


def test_word_dropout_is_built_from_the_config_and_acts_only_in_training():
    """Word dropout replaces source and target-input tokens by UNK in training; eval mode is untouched."""
    from nmt.models.base import word_dropout
    from nmt.tokenize.base import UNK_ID

    cfg = tiny_model_cfg(dropout=0.0, word_dropout=0.4)
    torch.manual_seed(3)
    model = build_model(cfg, VOCAB, VOCAB, joint_vocab=False)
    plain = build_model(tiny_model_cfg(dropout=0.0), VOCAB, VOCAB, joint_vocab=False)
    plain.load_state_dict(model.state_dict())
    assert model.word_dropout == 0.4 and plain.word_dropout == 0.0
    src, tgt_in = example_batch(seed=3)
    with torch.no_grad():
        model.eval()
        plain.eval()
        assert torch.equal(model(src, tgt_in), plain(src, tgt_in))
        model.train()
        plain.train()
        torch.manual_seed(5)
        dropped = model(src, tgt_in)
        torch.manual_seed(5)  # the same draws, in the model's order: source first, then target input
        src_unk, tgt_unk = word_dropout(src, 0.4, True), word_dropout(tgt_in, 0.4, True)
        assert (src_unk == UNK_ID).any() and (tgt_unk == UNK_ID).any()
        assert torch.equal(dropped, plain(src_unk, tgt_unk))
        assert not torch.equal(dropped, plain(src, tgt_in))


def test_bf16_training_carries_the_residual_stream_in_bf16_and_stays_close_to_fp32():
    """Under bf16 autocast the Transformer's layers pass bf16 activations to each other (half the memory and
    no cast before each linear layer); its outputs and gradients stay within bf16's rounding of float32's."""
    model = make_transformer(seed=4, layers=2).train()
    src, tgt_in = example_batch(seed=4)
    layer_outputs = []
    for layer in [*model.encoder_layers, *model.decoder_layers]:
        layer.register_forward_hook(lambda module, args, out: layer_outputs.append(out))

    def states_and_grads(bf16):
        torch.manual_seed(0)  # the same dropout masks
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            states = model.decoder_states(src, tgt_in)
        grads = torch.autograd.grad(states.float().square().sum(), list(model.parameters()), allow_unused=True)
        return states.float(), grads

    expected, expected_grads = states_and_grads(bf16=False)
    layer_outputs.clear()
    states, grads = states_and_grads(bf16=True)
    assert all((out[0] if isinstance(out, tuple) else out).dtype == torch.bfloat16 for out in layer_outputs)
    torch.testing.assert_close(states, expected, rtol=0.05, atol=0.05)
    for grad, expected_grad in zip(grads, expected_grads):
        if expected_grad is not None:
            torch.testing.assert_close(grad, expected_grad, rtol=0.1, atol=0.1 * expected_grad.abs().max().item())

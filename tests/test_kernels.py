"""Each kernel (nmt/kernels/) against the reference operation it replaces: values and gradients, within the
tolerance the kernel states; and the seam that picks them (`train.compute.kernels`)."""
from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F

from conftest import VOCAB, example_batch, make_transformer, tiny_config
from nmt.kernels import KERNELS, OPERATIONS, cpu, decoding, ops, reference
from nmt.kernels import loss as loss_kernels
from nmt.models.dropout import Dropout
from nmt.tokenize.base import PAD_ID


@contextmanager
def using(kind):
    """`ops` bound to `kind` inside the block, and to what it was after."""
    before = ops.kind
    ops.use(kind)
    try:
        yield ops
    finally:
        ops.use(before)


def test_the_seam_binds_every_operation_to_its_kernel_or_its_reference():
    with using("reference"):
        assert all(getattr(ops, name) is getattr(reference, name) for name in OPERATIONS)
    assert ops.kind == "auto" and all(getattr(ops, name) is KERNELS[name] for name in OPERATIONS)


def test_a_training_run_uses_the_kernels_its_config_names(toy_corpus, fresh_run_dir):
    from nmt.train.loop import Trainer

    with using("auto"):  # and back to auto after the test
        Trainer(tiny_config(toy_corpus, "train.compute.kernels=reference"), fresh_run_dir)
        assert ops.kind == "reference"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_model_without_dropout_trains_alike_through_kernels_and_references(precision, monkeypatch):
    """Dropout off, in training: in fp32 the kernels give the reference's loss and gradients exactly; under
    bf16 autocast (the attention and residual-stream kernels at work) within bf16's rounding."""
    monkeypatch.setattr(cpu, "CPU_COMPUTES_BF16", True)  # the attention kernel on any CPU
    src, tgt_in = example_batch(seed=3)

    def loss_and_grads(kind):
        model = make_transformer(seed=3, layers=2).train()
        with using(kind), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = F.log_softmax(model(src, tgt_in).float(), dim=-1).square().mean()
        return loss, torch.autograd.grad(loss, list(model.parameters()))

    (loss, grads), (expected, expected_grads) = loss_and_grads("auto"), loss_and_grads("reference")
    if precision == "fp32":
        assert torch.equal(loss, expected) and all(map(torch.equal, grads, expected_grads))
        return
    torch.testing.assert_close(loss, expected, rtol=0.02, atol=0)
    # the bf16 residual stream rounds every layer's output once more: measured on this model, each parameter's
    # gradient within 2-15 % of the reference's in norm (the reference under bf16 within 1-4 % of fp32's)
    for grad, expected_grad in zip(grads, expected_grads):
        assert (grad - expected_grad).norm() <= 0.2 * expected_grad.norm()


@pytest.mark.parametrize("rows", [None, [2, 0, 0]])
def test_the_history_kernel_appends_as_concatenation_does(rows):
    g = torch.Generator().manual_seed(0)
    past, new = torch.randn(3, 2, 4, 8, generator=g), torch.randn(3, 2, 1, 8, generator=g)
    rows = None if rows is None else torch.tensor(rows)
    assert torch.equal(decoding.append_history(past, rows, new), reference.append_history(past, rows, new))


@pytest.mark.parametrize("budget", [1, 3 * 5 * 8 * 2, 2 ** 21])  # one query a slice, two, all seven at once
def test_additive_scores_in_slices_equal_the_reference_in_value_and_gradient(budget, monkeypatch):
    monkeypatch.setattr(cpu, "ADDITIVE_SCORES_BUDGET", budget)
    g = torch.Generator().manual_seed(0)
    keys, queries = (torch.randn(*shape, generator=g).requires_grad_() for shape in ((3, 5, 8), (3, 7, 8)))
    v = torch.nn.Linear(8, 1, bias=False)
    upstream = torch.randn(3, 7, 5, generator=g)
    expected = reference.additive_scores(keys, queries, v)
    scores = cpu.additive_scores(keys, queries, v)
    torch.testing.assert_close(scores, expected)
    inputs = (keys, queries, v.weight)
    for grad, expected_grad in zip(torch.autograd.grad(scores, inputs, upstream),
                                   torch.autograd.grad(expected, inputs, upstream)):
        torch.testing.assert_close(grad, expected_grad)


def test_the_residual_stream_kernel_carries_bf16_under_bf16_autocast_only():
    x = torch.randn(2, 3)
    assert cpu.residual_stream(x) is x
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(cpu.residual_stream(x), x.to(torch.bfloat16))


@pytest.mark.parametrize("causal", [False, True])
def test_attention_in_bf16_autocast_on_a_cpu_equals_pytorchs_kernel(causal):
    """Under bf16 autocast on a CPU (training) the attention kernel takes its own path: the same output and
    gradients as PyTorch's kernel in float32, to bf16's precision, with padded keys and later positions blocked
    alike."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 6, 8, generator=g).requires_grad_() for _ in range(3))
    keys_kept = torch.tensor([[True] * 6, [True] * 4 + [False] * 2, [True] * 2 + [False] * 4])
    mask = None if causal else keys_kept[:, None, None]
    upstream = torch.randn(3, 2, 6, 8, generator=g)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    expected_grads = torch.autograd.grad(expected, (q, k, v), upstream)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = cpu.bf16_attention(q, k, v, mask, causal)
    grads = torch.autograd.grad(out, (q, k, v), upstream)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, rtol=0, atol=3e-2)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=0, atol=6e-2)



@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dropout_drops_at_its_rate_scales_the_rest_and_routes_the_gradient_through_the_same_mask(dtype):
    """The dropout kernel behaves as PyTorch's dropout: rate p, survivors scaled by 1 / (1 - p), the gradient
    masked and scaled alike, the identity in evaluation, and reproducible from the seed."""
    dropout, x = Dropout(0.3), torch.ones(400, 500, dtype=dtype, requires_grad=True)
    torch.manual_seed(0)
    y = dropout(x)
    kept = y != 0
    assert y.dtype == dtype and abs(1 - kept.float().mean().item() - 0.3) < 0.005
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))
    y.backward(torch.full_like(y, 2.0))
    torch.testing.assert_close(x.grad, kept.to(dtype) * (2 / 0.7))
    torch.manual_seed(0)
    assert torch.equal(dropout(x), y)
    assert torch.equal(dropout.eval()(x), x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_relu_dropout_equals_relu_then_dropout_in_output_and_gradient(dtype):
    """The fused ReLU-and-dropout kernel keeps only its output for the backward pass: output and gradient must
    equal ReLU then the dropout kernel drawing the same mask, zeros and negative inputs included; in evaluation
    it is a ReLU."""
    x = torch.randn(300, 400).to(dtype)
    x[::7] = 0
    fused_x, apart_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    upstream = torch.randn(300, 400).to(dtype)
    torch.manual_seed(1)
    fused = cpu.relu_dropout(fused_x, 0.25, training=True)
    torch.manual_seed(1)
    apart = Dropout(0.25)(torch.relu(apart_x))
    assert torch.equal(fused, apart)
    fused.backward(upstream)
    apart.backward(upstream)
    assert torch.equal(fused_x.grad, apart_x.grad)
    assert torch.equal(cpu.relu_dropout(x, 0.25, training=False), torch.relu(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dropout_with_a_residual_adds_it_in_the_same_pass(dtype):
    """The residual dropout kernel is residual + dropout(x) with the same mask, rounded once (not after the
    scaling and again after the sum); the gradients equal the two steps'."""
    dropout = Dropout(0.25)
    x, residual, upstream = (torch.randn(300, 400).to(dtype) for _ in range(3))
    fused_x, fused_r = x.clone().requires_grad_(), residual.clone().requires_grad_()
    apart_x, apart_r = x.clone().requires_grad_(), residual.clone().requires_grad_()
    torch.manual_seed(1)
    kept = dropout(torch.ones_like(x)) != 0
    torch.manual_seed(1)
    fused = dropout(fused_x, residual=fused_r)
    torch.manual_seed(1)
    apart = apart_r + dropout(apart_x)
    exact = residual.float() + x.float() * kept / 0.75
    torch.testing.assert_close(fused.float(), exact, rtol=2 ** -8 if dtype == torch.bfloat16 else 1.3e-6, atol=1e-6)
    fused.backward(upstream)
    apart.backward(upstream)
    assert torch.equal(fused_x.grad, apart_x.grad) and torch.equal(fused_r.grad, upstream)
    assert torch.equal(dropout.eval()(x, residual=residual), residual + x)


def test_bf16_training_attention_on_a_cpu_still_masks_padding_and_the_future(monkeypatch):
    """bf16 training on a CPU runs the attention kernel (where the CPU computes in bf16; here in any case): its
    masks must block as PyTorch's kernels do."""
    monkeypatch.setattr(cpu, "CPU_COMPUTES_BF16", True)
    model = make_transformer(seed=2, layers=2)
    src, tgt_in = example_batch(src_lengths=(4,))
    padded = torch.cat([src, torch.full((1, 5), PAD_ID)], dim=1)
    changed = tgt_in.clone()
    changed[:, 3] = 4 + (changed[:, 3] - 4 + 1) % (VOCAB - 4)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(src, tgt_in).float()
        torch.testing.assert_close(model(padded, tgt_in).float(), out, rtol=0, atol=2e-2)
        torch.testing.assert_close(model(src, changed).float()[:, :3], out[:, :3], rtol=0, atol=2e-2)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_loss_kernel_equals_its_reference(smoothing, dtype):
    """The label-smoothed loss kernel: the reference's loss and gradient (PyTorch's cross-entropy), padding rows
    counting for nothing, the loss in float32 whatever the logits' dtype."""
    logits = (torch.randn(6, 11, generator=torch.Generator().manual_seed(0)) * 3).to(dtype).requires_grad_()
    gold = torch.tensor([4, PAD_ID, 7, 10, PAD_ID, 1])
    expected = reference.smoothed_cross_entropy(logits, gold, smoothing)
    (expected * 0.5).backward()
    expected_grad, logits.grad = logits.grad.clone(), None
    loss = loss_kernels.smoothed_cross_entropy(logits, gold, smoothing)
    (loss * 0.5).backward()
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected)
    assert logits.grad.dtype == dtype and not logits.grad[[1, 4]].any()
    torch.testing.assert_close(logits.grad, expected_grad)


def test_the_loss_rows_kernel_pads_to_a_few_shapes():
    assert [loss_kernels.padded_rows(n) for n in (1, 128, 129, 4000)] == [128, 128, 256, 4096]
    assert reference.padded_rows(129) == 129


"""Scheduled sampling: the gold-probability schedules, both modes on both model families, the trainer."""
import json
import math

import pytest
import torch

from conftest import VOCAB, make_rnn, make_transformer, random_tokens, tiny_config
from nmt.config import load_config
from nmt.data.batching import pad
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID
from nmt.train.loop import Trainer
from nmt.train.losses import label_smoothed_cross_entropy
from nmt.train.scheduled_sampling import (ExponentialConfig, InverseSigmoidConfig, LinearConfig, ScheduledSampling,
                                          model_choice, per_step_scores, two_pass_scores)

# --- the schedules (Bengio et al. 2015, section 2.4) ----------------------------------------------


def test_linear_schedule_matches_the_formula_and_its_floor():
    k, c, floor = 1.0, 1e-3, 0.1
    for i, expected in {0: 1.0, 1: 0.999, 100: 0.9, 500: 0.5, 900: 0.1, 5000: 0.1}.items():
        assert LinearConfig(k=k, c=c, min_gold=floor).p_gold(i) == pytest.approx(expected, abs=1e-12)
    assert LinearConfig(k=0.8, c=1e-3).p_gold(300) == pytest.approx(0.5)


def test_exponential_schedule_matches_the_formula():
    k = 0.99
    for i in (0, 1, 10, 250, 10_000):
        assert ExponentialConfig(k=k).p_gold(i) == pytest.approx(math.exp(i * math.log(k)), rel=1e-9)


def test_inverse_sigmoid_schedule_matches_the_formula():
    for k in (1.0, 10.0, 2000.0):
        for i in (0, 1, 7, 100, 600, 10_000):
            expected = k / (k + math.exp(i / k)) if i / k < 700 else 0.0  # e^(i/k) beyond a float
            assert InverseSigmoidConfig(k=k).p_gold(i) == pytest.approx(expected, rel=1e-9)
        assert InverseSigmoidConfig(k=k).p_gold(k * math.log(k)) == pytest.approx(0.5)
    assert 0.0 <= InverseSigmoidConfig(k=10.0).p_gold(10**9) < 1e-12  # no overflow far out


@pytest.mark.parametrize("schedule", [LinearConfig(k=1.0, c=1e-3, min_gold=0.05), ExponentialConfig(k=0.999),
                                      InverseSigmoidConfig(k=50.0)])
def test_schedules_are_probabilities_that_never_increase(schedule):
    values = [schedule.p_gold(i) for i in range(0, 5000, 7)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_config_builds_the_sampler_and_auto_picks_the_mode_per_model_type():
    cfg = load_config(None, ["train.scheduled_sampling.enabled=true", "train.scheduled_sampling.schedule=linear",
                             "train.scheduled_sampling.k=0.9", "train.scheduled_sampling.c=0.01",
                             "train.scheduled_sampling.min_gold=0.2"]).train.scheduled_sampling
    assert ScheduledSampling.from_config(cfg, make_rnn()).mode == "per_step"
    assert ScheduledSampling.from_config(cfg, make_transformer()).mode == "two_pass"
    sampler = ScheduledSampling.from_config(cfg, make_transformer())
    assert sampler.p_gold(10) == pytest.approx(0.8) and sampler.p_gold(1000) == pytest.approx(0.2)
    assert load_config().train.scheduled_sampling.enabled is False  # off by default


# --- the scores of a batch ---------------------------------------------------------------------------


MODELS = {"transformer": lambda: make_transformer(dropout=0.0), "rnn": make_rnn}
MODES = {"per_step": per_step_scores, "two_pass": two_pass_scores}


def padded_batch(seed=0, src_lengths=(5, 2, 7), tgt_lengths=(4, 1, 6)):
    """src (B, S), tgt_in (B, T) = BOS + y, tgt_out (B, T) = y + EOS, targets of different lengths."""
    g = torch.Generator().manual_seed(seed)
    src = pad([random_tokens(g, n) + [EOS_ID] for n in src_lengths])
    targets = [random_tokens(g, n) for n in tgt_lengths]
    return src, pad([[BOS_ID] + t for t in targets]), pad([t + [EOS_ID] for t in targets])


def masked_argmax(scores):
    """What the model would feed itself (argmax), computed here independently: PAD and BOS excluded."""
    scores = scores.clone()
    scores[..., [PAD_ID, BOS_ID]] = float("-inf")
    return scores.argmax(-1)


@pytest.mark.parametrize("family", MODELS)
@pytest.mark.parametrize("mode", MODES)
def test_gold_probability_one_is_teacher_forcing(family, mode):
    model = MODELS[family]().train()  # training mode, dropout 0: deterministic
    src, tgt_in, tgt_out = padded_batch()
    expected = label_smoothed_cross_entropy(model(src, tgt_in), tgt_out, 0.1)
    loss = label_smoothed_cross_entropy(MODES[mode](model, src, tgt_in, 1.0, "sample"), tgt_out, 0.1)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
    loss.backward()  # the scores carry gradient
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def record_decode_steps(model):
    """Wrap model.decode_step to record (prev_tokens, log_probs) of every call."""
    calls, original = [], model.decode_step

    def recording(prev_tokens, state):
        log_probs, state = original(prev_tokens, state)
        calls.append((prev_tokens.clone(), log_probs.detach()))
        return log_probs, state

    model.decode_step = recording
    return calls


@pytest.mark.parametrize("family", MODELS)
def test_per_step_with_gold_probability_zero_feeds_only_the_models_predictions(family):
    model = MODELS[family]().train()
    src, tgt_in, _ = padded_batch(seed=1)
    calls = record_decode_steps(model)
    scores = per_step_scores(model, src, tgt_in, 0.0, "argmax")
    assert len(calls) == tgt_in.size(1)
    assert torch.equal(calls[0][0], tgt_in[:, 0])  # BOS
    for t in range(1, tgt_in.size(1)):
        predicted = masked_argmax(calls[t - 1][1])
        expected = torch.where(tgt_in[:, t] == PAD_ID, tgt_in[:, t], predicted)  # padding stays PAD
        assert torch.equal(calls[t][0], expected), t
    assert torch.equal(scores.detach(), torch.stack([c[1] for c in calls], 1))
    # the predictions differ from the gold tokens somewhere, so the test is not vacuous
    fed = torch.stack([c[0] for c in calls], 1)
    assert not torch.equal(fed, tgt_in)


@pytest.mark.parametrize("family", MODELS)
def test_two_pass_with_gold_probability_zero_feeds_the_shifted_first_pass_predictions(family):
    model = MODELS[family]().train()
    src, tgt_in, _ = padded_batch(seed=2)
    inputs, outputs, original = [], [], model.forward

    def recording(src_, tgt):
        out = original(src_, tgt)
        inputs.append(tgt.clone())
        outputs.append(out.detach())
        return out

    model.forward = recording
    scores = two_pass_scores(model, src, tgt_in, 0.0, "argmax")
    assert len(inputs) == 2 and torch.equal(inputs[0], tgt_in)
    shifted = torch.cat([tgt_in[:, :1], masked_argmax(outputs[0])[:, :-1]], dim=1)
    assert torch.equal(inputs[1], torch.where(tgt_in == PAD_ID, tgt_in, shifted))
    assert not torch.equal(inputs[1], tgt_in)
    assert torch.equal(scores.detach(), outputs[1])
    assert scores.requires_grad


def test_mixed_inputs_are_gold_or_predicted_and_keep_bos_and_padding():
    model = make_transformer(dropout=0.0).train()
    src, tgt_in, _ = padded_batch(seed=3)
    calls = record_decode_steps(model)
    torch.manual_seed(0)
    per_step_scores(model, src, tgt_in, 0.5, "argmax")
    fed = torch.stack([c[0] for c in calls], 1)
    predicted = torch.stack([masked_argmax(c[1]) for c in calls[:-1]], 1)  # candidate for positions 1..T-1
    gold, real = tgt_in[:, 1:], tgt_in[:, 1:] != PAD_ID
    assert torch.equal(fed[:, 0], tgt_in[:, 0])
    assert torch.equal(fed[:, 1:][~real], gold[~real])
    assert ((fed[:, 1:] == gold) | (fed[:, 1:] == predicted))[real].all()


def test_sampled_tokens_follow_the_model_distribution_without_pad_or_bos():
    probs = torch.zeros(VOCAB)
    probs[PAD_ID], probs[BOS_ID], probs[4], probs[5] = 0.3, 0.2, 0.1, 0.4  # PAD/BOS excluded: 4 -> 0.2, 5 -> 0.8
    scores = probs.log().expand(20_000, VOCAB)
    torch.manual_seed(0)
    tokens = model_choice(scores, "sample")
    assert set(tokens.unique().tolist()) == {4, 5}
    assert (tokens == 5).float().mean().item() == pytest.approx(0.8, abs=0.02)
    torch.manual_seed(0)  # the global CPU generator decides: a restored RNG state gives the same draws
    assert torch.equal(model_choice(scores, "sample"), tokens)
    assert torch.equal(model_choice(scores, "argmax"), torch.full((20_000,), 5))


# --- in the trainer ------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["transformer", "rnn"])
def test_trainer_with_scheduled_sampling_trains_and_logs_p_gold(fresh_run_dir, toy_corpus, family):
    settings = ["train.limits.max_steps=3", "train.log_every=1", "train.validation.size=4",
                "train.scheduled_sampling.enabled=true", "train.scheduled_sampling.schedule=exponential",
                "train.scheduled_sampling.k=0.5"]
    trainer = Trainer(tiny_config(toy_corpus, *settings, family=family), fresh_run_dir)
    assert trainer.scheduled_sampling.mode == {"transformer": "two_pass", "rnn": "per_step"}[family]
    trainer.run()
    events = [json.loads(line) for line in (fresh_run_dir / "metrics.jsonl").read_text().splitlines()]
    train_events = [e for e in events if e["event"] == "train"]
    assert [e["step"] for e in train_events] == [1, 2, 3]
    assert [e["p_gold"] for e in train_events] == pytest.approx([0.5, 0.25, 0.125])
    assert all(math.isfinite(e["loss"]) and e["loss"] > 0 for e in train_events)

"""Scheduled sampling (Bengio et al. 2015): train the decoder partly on its own predictions.

Two ways, both through the Seq2Seq interface only (models need no change):

per_step (Bengio et al.): encode, then `decode_step` over the target positions; at step t > 0 the
    input is the gold token with probability p_gold, else the model's own prediction of step t-1.
    The RNN decodes step by step anyway, so this costs it what teacher forcing costs.
two_pass (Mihaylova & Martins 2019): a teacher-forced pass without gradient predicts every position;
    input position t > 0 takes the gold token with probability p_gold, else that pass's prediction
    for it (made at position t-1); a second pass on this mix, with gradient, gives the scores. It keeps
    the Transformer's parallel pass, where per_step would run T incremental steps.

p_gold comes from the `train.scheduled_sampling.schedule` at the update step. Input position 0 (BOS)
and target padding are always gold. Predictions are detached: no gradient flows through the choice.
Every random draw (gold or not; samples) comes from the global CPU generator, whose state the
checkpoint keeps, so a resumed run draws what an uninterrupted one would have.
"""
import typing

import torch
from pydantic import Field

from nmt.schema import Float, Section, choice, one_of
from nmt.tokenize.base import BOS_ID, PAD_ID
from nmt.train.schedules import exponential_gold, inverse_sigmoid_gold, linear_gold

NEVER_FED = (PAD_ID, BOS_ID)  # as in decoding, where the model never emits these


def _uniform(shape, device):
    """U[0, 1) draws from the global CPU generator, moved to `device`."""
    return torch.rand(shape).to(device)


def model_choice(scores, pick):
    """Tokens (...) the model would feed itself, from its logits or log-probabilities (..., V):
    the argmax, or a sample from its distribution. Never PAD or BOS; detached."""
    never = torch.tensor(NEVER_FED, device=scores.device)
    scores = scores.detach().float().index_fill(-1, never, float("-inf"))  # a copy: the caller's scores stay
    if pick == "argmax":
        return scores.argmax(-1)
    # inverse-CDF sampling with CPU uniforms (torch.multinomial would draw from the GPU's generator,
    # which the checkpoint does not keep); scaling u by the total keeps it below the last CDF value
    cdf = scores.softmax(-1).cumsum(-1)
    u = _uniform(cdf.shape[:-1], cdf.device)[..., None] * cdf[..., -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(-1)


def mix(gold, predicted, p_gold):
    """Elementwise: the gold token with probability p_gold, else `predicted`; padding stays PAD."""
    use_gold = (_uniform(gold.shape, gold.device) < p_gold) | (gold == PAD_ID)
    return torch.where(use_gold, gold, predicted)


def per_step_scores(model, src, tgt_in, p_gold, pick):
    """(B, T, V) float32 log-probabilities, decoding one position at a time from mixed inputs."""
    state = model.encode(src)
    prev, outputs = tgt_in[:, 0], []  # position 0: BOS
    for t in range(tgt_in.size(1)):
        if t > 0:
            prev = mix(tgt_in[:, t], model_choice(outputs[-1], pick), p_gold)
        log_probs, state = model.decode_step(prev, state)  # (B, V)
        outputs.append(log_probs)
    return torch.stack(outputs, 1)


def two_pass_scores(model, src, tgt_in, p_gold, pick):
    """(B, T, V) logits of a second teacher-forced pass over gold inputs mixed with the first pass's predictions."""
    with torch.no_grad():  # the model keeps its mode: in training, dropout is on in both passes
        first = model(src, tgt_in)  # (B, T, V); position t predicts input t+1
    predicted = model_choice(first, pick)
    candidates = torch.cat([tgt_in[:, :1], predicted[:, :-1]], dim=1)  # BOS, then the prediction made at t-1
    return model(src, mix(tgt_in, candidates, p_gold))


MODES = {"per_step": per_step_scores, "two_pass": two_pass_scores}


def resolve_mode(mode, model):
    """`auto`: the model family's own choice (`Seq2Seq.scheduled_sampling_mode`)."""
    return model.scheduled_sampling_mode if mode == "auto" else mode


class ScheduledSampling:
    """Scores of a batch under scheduled sampling at a given update step (see the module docstring)."""

    def __init__(self, p_gold, mode="per_step", pick="sample"):
        if mode not in MODES:
            raise ValueError(f"unknown scheduled-sampling mode {mode!r}")
        self.p_gold, self.mode, self.pick = p_gold, mode, pick  # p_gold(step): probability of the gold token

    @classmethod
    def from_config(cls, cfg, model):
        """From `train.scheduled_sampling`, with `auto` resolved for the model's family."""
        return cls(cfg.p_gold, resolve_mode(cfg.mode, model), cfg.pick)

    def scores(self, model, src, tgt_in, step):
        """(B, T, V) logits (two_pass) or log-probabilities (per_step): cross-entropy applies log_softmax,
        which leaves log-probabilities unchanged, so the loss is the same on either."""
        return MODES[self.mode](model, src, tgt_in, self.p_gold(step), self.pick)


# --- `train.scheduled_sampling`: one section per gold-probability schedule (formulas in schedules.py) --

class CommonScheduledSamplingConfig(Section):
    schedule: str = Field(description="inverse_sigmoid | linear | exponential: p_gold against the update step i")
    enabled: bool = Field(False, description="feed the decoder its own predictions (Bengio et al. 2015)")
    mode: choice(["auto", *MODES]) = Field(
        "auto", description="per_step | two_pass (Mihaylova & Martins 2019) | auto: per_step for rnn, "
                            "two_pass for transformer")
    pick: typing.Literal["sample", "argmax"] = Field(
        "sample", description="a fed prediction is sampled from the model's distribution, or its argmax")


class InverseSigmoidConfig(CommonScheduledSamplingConfig):
    schedule: typing.Literal["inverse_sigmoid"] = Field("inverse_sigmoid", description="Bengio et al. 2015")
    k: Float = Field(2000.0, ge=1, description="p_gold = k / (k + exp(i / k)); 1/2 at i = k ln k")

    def p_gold(self, step):
        return inverse_sigmoid_gold(step, self.k)


class LinearConfig(CommonScheduledSamplingConfig):
    schedule: typing.Literal["linear"] = Field("linear", description="p_gold = max(min_gold, k - c * i)")
    k: Float = Field(1.0, gt=0, le=1, description="the intercept")
    c: Float = Field(1e-4, ge=0, description="the slope")
    min_gold: Float = Field(0.0, ge=0, le=1, description="the floor")

    def p_gold(self, step):
        return linear_gold(step, self.k, self.c, self.min_gold)


class ExponentialConfig(CommonScheduledSamplingConfig):
    schedule: typing.Literal["exponential"] = Field("exponential", description="p_gold = k ** i")
    k: Float = Field(0.9999, gt=0, lt=1, description="the decay per update")

    def p_gold(self, step):
        return exponential_gold(step, self.k)


ScheduledSamplingConfig = one_of(InverseSigmoidConfig, LinearConfig, ExponentialConfig, key="schedule")

"""Schedules of training: the learning rate and the scheduled-sampling gold probability.

Pure functions of the update step (1-based), except `PlateauDecay`, which follows dev BLEU
and keeps its state in the checkpoint. `train.lr_schedule` is one of the config sections below;
a new schedule is one class, added to `LRScheduleConfig`.
"""
import math
import typing

from pydantic import Field

from nmt.schema import Float, Section, one_of

# --- learning rate ---------------------------------------------------------------------------------


def inverse_sqrt(step, peak_lr, warmup_steps):
    """Linear warmup to `peak_lr` over `warmup_steps`, then decay with 1/sqrt(step) (Vaswani et al. 2017).
    With no warmup the rate stays at `peak_lr`."""
    if warmup_steps == 0:
        return peak_lr
    return peak_lr * min(step / warmup_steps, math.sqrt(warmup_steps / step))


def linear_warmup(step, warmup_steps):
    """The fraction of the rate reached at `step`: step / warmup_steps, then 1."""
    return 1.0 if warmup_steps == 0 else min(1.0, step / warmup_steps)


# decays over a budget of updates: the fraction of the peak rate at progress z in [0, 1]

def linear_decay(z):
    """BERT (Devlin et al. 2019)."""
    return 1.0 - z


def cosine_decay(z):
    """Loshchilov & Hutter 2017, without restarts."""
    return 0.5 * (1.0 + math.cos(math.pi * z))


def rex_decay(z):
    """REX (Chen et al. 2021): reflected exponential, between linear and a step at the end."""
    return (1.0 - z) / (0.5 + 0.5 * (1.0 - z))


class StatelessSchedule:
    """The interface the trainer uses for every LR schedule; a function of the step keeps no state."""

    def update(self, score):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class InverseSqrt(StatelessSchedule):
    def __init__(self, peak_lr, warmup_steps):
        self.peak_lr, self.warmup_steps = peak_lr, warmup_steps

    def rate(self, step):
        return inverse_sqrt(step, self.peak_lr, self.warmup_steps)


class BudgetedDecay(StatelessSchedule):
    """Linear warmup to `peak_lr`, then `decay` of the progress through the remaining updates: 0 at
    `total_steps`."""

    def __init__(self, peak_lr, warmup_steps, total_steps, decay):
        self.peak_lr, self.warmup_steps, self.total_steps, self.decay = peak_lr, warmup_steps, total_steps, decay

    def rate(self, step):
        if step <= self.warmup_steps:
            return self.peak_lr * linear_warmup(step, self.warmup_steps)
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        return self.peak_lr * self.decay(min(1.0, progress))


class PlateauDecay:
    """Multiply the rate by `factor` after `patience` validations without a dev-BLEU gain, never below
    `min_lr` (the decay of Luong et al. 2015 and Ma & Hovy 2016, driven by BLEU rather than epochs).
    The count restarts after each decay. Linear warmup, if any, scales the rate during the first steps."""

    def __init__(self, lr, factor, patience, min_lr, warmup_steps=0):
        self.lr, self.factor, self.patience, self.min_lr = lr, factor, patience, min_lr
        self.warmup_steps = warmup_steps
        self.best, self.bad_validations = float("-inf"), 0

    def rate(self, step):
        return self.lr * linear_warmup(step, self.warmup_steps)

    def update(self, score):
        """Record a validation score; decay the rate once `patience` of them in a row brought no gain."""
        if score > self.best:
            self.best, self.bad_validations = score, 0
            return
        self.bad_validations += 1
        if self.bad_validations >= self.patience:
            self.lr, self.bad_validations = max(self.min_lr, self.lr * self.factor), 0

    def state_dict(self):
        return {"lr": self.lr, "best": self.best, "bad_validations": self.bad_validations}

    def load_state_dict(self, state):
        if not state:  # a checkpoint of a run on another schedule: start from train.lr
            return
        self.lr, self.best = float(state["lr"]), float(state["best"])
        self.bad_validations = int(state["bad_validations"])


class InverseSqrtConfig(Section):
    type: typing.Literal["inverse_sqrt"] = Field("inverse_sqrt", description="inverse_sqrt | plateau")
    warmup_steps: int = Field(4000, ge=0, description="linear warmup to the peak lr; 0 = none (then constant)")

    def build(self, peak_lr, max_steps=0):
        return InverseSqrt(peak_lr, self.warmup_steps)


class PlateauConfig(Section):
    type: typing.Literal["plateau"] = Field("plateau", description="decay on a dev-BLEU plateau")
    warmup_steps: int = Field(0, ge=0, description="linear warmup to the peak lr; 0 = none")
    factor: Float = Field(0.5, gt=0, lt=1, description="the lr is multiplied by this ...")
    patience: int = Field(2, ge=1, description="... after this many validations without a BLEU gain")
    min_lr: Float = Field(1e-6, ge=0, description="the lr never decays below this")

    def build(self, peak_lr, max_steps=0):
        return PlateauDecay(peak_lr, self.factor, self.patience, self.min_lr, self.warmup_steps)


class BudgetedConfig(Section):
    type: str = Field(description="linear | cosine | rex: decay to 0 over the budget of updates")
    warmup_steps: int = Field(0, ge=0, description="linear warmup to the peak lr; 0 = none")
    total_steps: int = Field(0, ge=0, description="updates of the whole decay; 0 = train.limits.max_steps")

    def build(self, peak_lr, max_steps=0):
        return BudgetedDecay(peak_lr, self.warmup_steps, self.total_steps or max_steps, self.decay)


class LinearDecayConfig(BudgetedConfig):
    type: typing.Literal["linear"] = Field("linear", description="warmup, then linear decay (BERT)")
    decay = staticmethod(linear_decay)


class CosineDecayConfig(BudgetedConfig):
    type: typing.Literal["cosine"] = Field("cosine", description="warmup, then half a cosine")
    decay = staticmethod(cosine_decay)


class RexDecayConfig(BudgetedConfig):
    type: typing.Literal["rex"] = Field("rex", description="warmup, then REX (Chen et al. 2021)")
    decay = staticmethod(rex_decay)


LRScheduleConfig = one_of(InverseSqrtConfig, PlateauConfig, LinearDecayConfig, CosineDecayConfig, RexDecayConfig)


# --- scheduled sampling: probability of feeding the gold token (Bengio et al. 2015, section 2.4) -------
#
# With i the update step:
#   linear            eps_i = max(eps, k - c * i)      0 <= eps < 1 the floor (min_gold), k the intercept, c the slope
#   exponential       eps_i = k ** i                   k < 1
#   inverse sigmoid   eps_i = k / (k + exp(i / k))     k >= 1; eps_i = 1/2 at i = k ln k


def linear_gold(step, k, c, min_gold):
    return max(min_gold, k - c * step)


def exponential_gold(step, k):
    return k ** step


def inverse_sigmoid_gold(step, k):
    # k / (k + e^(i/k)) = 1 / (1 + e^(i/k - ln k)), which does not overflow for large i
    return 1.0 / (1.0 + math.exp(min(step / k - math.log(k), 700.0)))

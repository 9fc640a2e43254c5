"""Learning-rate schedules: pure functions of the update step (1-based)."""
import math


def inverse_sqrt(step, peak_lr, warmup_steps):
    """Linear warmup to `peak_lr` over `warmup_steps`, then decay with 1/sqrt(step) (Vaswani et al. 2017).
    With no warmup the rate stays at `peak_lr`."""
    if warmup_steps == 0:
        return peak_lr
    return peak_lr * min(step / warmup_steps, math.sqrt(warmup_steps / step))

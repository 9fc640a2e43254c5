import sys, time, torch, torch.nn.functional as F
from pathlib import Path
import nmt.train.losses as L
from nmt.config import load_config
from nmt.train.loop import Trainer
T = {"cast_in": 0.0, "lsm": 0.0, "cast_out": 0.0, "grad": 0.0}
class SCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, gold, smoothing):
        t0 = time.perf_counter(); x = logits.float(); t1 = time.perf_counter()
        log_probs = F.log_softmax(x, dim=-1); t2 = time.perf_counter()
        T["cast_in"] += t1 - t0; T["lsm"] += t2 - t1
        per_row = -(1 - smoothing) * log_probs.gather(1, gold[:, None]).squeeze(1) - smoothing * log_probs.mean(-1)
        ctx.save_for_backward(log_probs, gold)
        ctx.smoothing, ctx.logits_dtype = smoothing, logits.dtype
        return torch.where(gold != 0, per_row, 0).sum()
    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        log_probs, gold = ctx.saved_tensors
        t0 = time.perf_counter()
        s, weight = ctx.smoothing, ((gold != 0) * grad)[:, None]
        dx = log_probs.exp_().mul_(weight).sub_(weight * (s / log_probs.size(-1)))
        dx.scatter_add_(1, gold[:, None], weight * -(1 - s))
        t1 = time.perf_counter(); out = dx.to(ctx.logits_dtype); t2 = time.perf_counter()
        T["grad"] += t1 - t0; T["cast_out"] += t2 - t1
        return out, None, None
L.SmoothedCrossEntropy = SCE
run = Path(sys.argv[1])
trainer = Trainer(load_config(run / "config.yaml", ["train.limits.max_time=600"]), run)
batches = iter(trainer.sampler)
for step in range(1, 31):
    trainer.update(trainer.draw_update(batches), step)
for k in T: T[k] = 0.0
t0 = time.perf_counter()
for step in range(31, 51):
    trainer.update(trainer.draw_update(batches), step)
print("s/update %.3f" % ((time.perf_counter() - t0) / 20), {k: "%.1f ms/update" % (v / 20 * 1e3) for k, v in T.items()})

import sys, time
from pathlib import Path
import torch
import nmt.train.losses as L
from nmt.config import load_config
from nmt.train.loop import Trainer
acc = {"fwd": 0.0, "bwd": 0.0, "n": 0}
F0, B0 = L.SmoothedCrossEntropy.forward, L.SmoothedCrossEntropy.backward
def fwd(ctx, *a):
    s = time.perf_counter(); r = F0(ctx, *a); acc["fwd"] += time.perf_counter() - s; acc["n"] += 1; return r
def bwd(ctx, *a):
    s = time.perf_counter(); r = B0(ctx, *a); acc["bwd"] += time.perf_counter() - s; return r
L.SmoothedCrossEntropy.forward = staticmethod(fwd); L.SmoothedCrossEntropy.backward = staticmethod(bwd)
run = Path(sys.argv[1]); n = 20
trainer = Trainer(load_config(run / "config.yaml", ["train.limits.max_time=600"]), run)
batches = iter(trainer.sampler)
for step in range(1, 6):
    trainer.update(trainer.draw_update(batches), step)
acc.update(fwd=0, bwd=0, n=0)
t = time.perf_counter()
for step in range(6, 6 + n):
    trainer.update(trainer.draw_update(batches), step)
w = (time.perf_counter() - t) / n
print(f"wall/update {w:.3f}s loss fwd {acc['fwd']/n*1e3:.1f} ms bwd {acc['bwd']/n*1e3:.1f} ms per update, chunks/update {acc['n']/n:.1f}")

"""Gradient norms of the recipe's first updates: how often clipping at 1.0 changes anything."""
import sys
import torch
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer
run, n = Path(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
trainer = Trainer(load_config(run / "config.yaml"), run)
norms = []
real = torch.nn.utils.clip_grad_norm_
def spy(params, max_norm, *a, **k):
    out = real(params, max_norm, *a, **k); norms.append(float(out)); return out
torch.nn.utils.clip_grad_norm_ = spy
batches = iter(trainer.sampler)
for step in range(1, n + 1):
    trainer.update(trainer.draw_update(batches), step)
for lo in range(0, n, 50):
    part = norms[lo:lo + 50]
    print(f"updates {lo+1}-{lo+len(part)}: above 1.0 in {sum(x > 1 for x in part)}/{len(part)}, median {sorted(part)[len(part)//2]:.2f}")

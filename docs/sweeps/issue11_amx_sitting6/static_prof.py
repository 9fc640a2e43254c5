import sys, time, os
import torch
import torch._inductor.config as ic
ic.cpp.enable_kernel_profile = True
from torch.profiler import ProfilerActivity, profile
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer
run = Path(sys.argv[1])
torch.manual_seed(0)
trainer = Trainer(load_config(run / "config.yaml"), run)
for mod in trainer.model.modules():
    if hasattr(mod, "p"): mod.p = 0.0
    if type(mod).__name__ == "MultiHeadAttention": mod.dropout = 0.0
batches = iter(trainer.sampler)
update = trainer.draw_update(batches)
if sys.argv[2] == "static":
    trainer.model.decoder_states = torch.compile(trainer.model.decoder_states, dynamic=False)
for step in range(1, 6): trainer.update(update, step)
with profile(activities=[ProfilerActivity.CPU]) as prof:
    t = time.perf_counter()
    for step in range(6, 11): trainer.update(update, step)
    wall = time.perf_counter() - t
print(f"{wall/5:.3f} s/update")
for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:25]:
    print(f"{e.key[:80]:80s} {e.self_cpu_time_total/1e6/wall*100:5.1f}%  n={e.count/5:.0f}")

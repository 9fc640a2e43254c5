import time, torch
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer
run = Path("/work/runs/pp1")
trainer = Trainer(load_config(run / "config.yaml", ["train.limits.max_time=600"]), run)
params = list(trainer.model.parameters())
for p in params: p.grad = torch.randn_like(p) * 1e-3
for fused in (False, True, False, True):
    opt = torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.98), eps=1e-9, fused=fused)
    for _ in range(3): opt.step()
    s = time.perf_counter()
    for _ in range(30): opt.step()
    print("fused" if fused else "foreach", f"{(time.perf_counter()-s)/30*1e3:.2f} ms per step")

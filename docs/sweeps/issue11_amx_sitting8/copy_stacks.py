"""Where the copies of one update come from: copy_ events grouped by shape and the Python frames that made them."""
import sys, collections
import torch
from torch.profiler import ProfilerActivity, profile
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer
run = Path(sys.argv[1])
trainer = Trainer(load_config(run / "config.yaml"), run)
batches = iter(trainer.sampler)
for step in range(1, 6):
    trainer.update(trainer.draw_update(batches), step)
with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_stack=True) as prof:
    for step in range(6, 9):
        trainer.update(trainer.draw_update(batches), step)
groups = collections.defaultdict(lambda: [0, 0])
for e in prof.events():
    if e.name == "aten::copy_":
        p = e
        names = []
        while p is not None:
            if p.name.startswith("aten::") or "Backward" in p.name:
                names.append(p.name)
            p = p.cpu_parent
        stack = [f for f in (e.stack or []) if "nmt/" in f][:3]
        key = (" < ".join(names[:4]), " | ".join(stack) if stack else "(autograd)")
        groups[key][0] += e.self_cpu_time_total
        groups[key][1] += 1
tot = sum(v[0] for v in groups.values())
for k, (t, n) in sorted(groups.items(), key=lambda kv: -kv[1][0])[:25]:
    print(f"{t/tot*100:5.1f}% n={n/3:.0f}  {k[0]}\n        {k[1]}")

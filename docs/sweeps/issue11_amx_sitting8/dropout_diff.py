"""Operators' self time an update, the recipe as is against every dropout p = 0 (10 profiled updates each, one
process each run in turn): what dropout costs, op by op.

    python dropout_diff.py RUN dropout|p0 OUT.json      one variant's table
    python dropout_diff.py compare A.json B.json        the operators that A spends more on than B"""
import sys, json, time
import torch
from torch.profiler import ProfilerActivity, profile
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer

if sys.argv[1] == "compare":
    a, b = (json.load(open(path)) for path in sys.argv[2:4])
    for key in sorted(set(a) | set(b), key=lambda k: b.get(k, 0) - a.get(k, 0))[:16]:
        print(f"{key[:60]:60s} {a.get(key, 0) * 1e3:8.1f} {b.get(key, 0) * 1e3:8.1f} {(a.get(key, 0) - b.get(key, 0)) * 1e3:+8.1f} ms")
    ops = sum(a.get(k, 0) - b.get(k, 0) for k in set(a) | set(b) if k != "(wall)")
    print(f"operators' self time, difference summed: {ops * 1e3:+.1f} ms an update")
    sys.exit()
run, variant = Path(sys.argv[1]), sys.argv[2]
torch.manual_seed(0)
trainer = Trainer(load_config(run / "config.yaml"), run)
if variant == "p0":
    for module in trainer.model.modules():
        if hasattr(module, "p"): module.p = 0.0
batches = iter(trainer.sampler)
for step in range(1, 31):
    trainer.update(trainer.draw_update(batches), step)
with profile(activities=[ProfilerActivity.CPU]) as prof:
    t = time.perf_counter()
    for step in range(31, 41):
        trainer.update(trainer.draw_update(batches), step)
    wall = (time.perf_counter() - t) / 10
table = {e.key: e.self_cpu_time_total / 1e6 / 10 for e in prof.key_averages()}
table["(wall)"] = wall
json.dump(table, open(sys.argv[3], "w"))

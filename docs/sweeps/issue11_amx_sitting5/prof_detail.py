"""Profile 10 updates (after 10 warm-up) of a run dir's trainer; copy_ grouped by shape, op counts."""
import sys, time, collections
import torch
from torch.profiler import ProfilerActivity, profile
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer
run = Path(sys.argv[1])
trainer = Trainer(load_config(run / "config.yaml"), run)
batches = iter(trainer.sampler)
for step in range(1, 11):
    trainer.update(trainer.draw_update(batches), step)
with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
    t = time.perf_counter()
    for step in range(11, 21):
        trainer.update(trainer.draw_update(batches), step)
    wall = time.perf_counter() - t
print(f"{wall/10:.3f} s/update")
ka = prof.key_averages()
tot = sum(e.self_cpu_time_total for e in ka)
print(f"operator self time {tot/1e6/10:.3f} s/update; ops/update {sum(e.count for e in ka)/10:.0f}")
for e in sorted(ka, key=lambda e: -e.self_cpu_time_total)[:25]:
    print(f"{e.key:45s} {e.self_cpu_time_total/1e6/wall*100:5.1f}%  n={e.count/10:.0f}")
print("--- copy_ / _to_copy by shape")
ks = prof.key_averages(group_by_input_shape=True)
for e in sorted([e for e in ks if e.key in ("aten::copy_",)], key=lambda e: -e.self_cpu_time_total)[:25]:
    print(f"{e.self_cpu_time_total/1e6/wall*100:5.2f}% n={e.count/10:.0f} {str(e.input_shapes)[:150]}")
print("--- by count")
for e in sorted(ka, key=lambda e: -e.count)[:30]:
    print(f"{e.key:45s} n={e.count/10:.0f} {e.self_cpu_time_total/1e6/wall*100:5.1f}%")
print("--- copy_ by count")
for e in sorted([e for e in ks if e.key in ("aten::copy_",)], key=lambda e: -e.count)[:12]:
    print(f"{e.self_cpu_time_total/1e6/wall*100:5.2f}% n={e.count/10:.0f} {str(e.input_shapes)[:150]}")

"""Matrix products of 10 profiled updates (after 10) grouped by operator and shapes: time share and TFLOP/s."""
import sys, time, collections, math
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


def flops(name, shapes):
    if name == "aten::mm":
        (m, k), (_, n) = shapes[0], shapes[1]
        return 2 * m * k * n
    if name == "aten::addmm":
        (m, k), (_, n) = shapes[1], shapes[2]
        return 2 * m * k * n
    if name in ("aten::bmm", "aten::baddbmm"):
        a, b = (shapes[0], shapes[1]) if name == "aten::bmm" else (shapes[1], shapes[2])
        return 2 * a[0] * a[1] * a[2] * b[2]
    return 0


kinds = collections.defaultdict(lambda: [0.0, 0.0, 0])  # by (op, role of the shape): time, flops, count
for e in prof.events():
    if e.name in ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"):
        shapes = e.input_shapes
        f = flops(e.name, shapes)
        dims = shapes[:2] if e.name in ("aten::mm", "aten::bmm") else shapes[1:3]
        # group by the fixed model dimensions: rows vary per batch
        key = (e.name, tuple(tuple(d if d in (64, 256, 512, 768, 1024, 8000) else "n" for d in s) for s in dims))
        kinds[key][0] += e.self_cpu_time_total / 1e6
        kinds[key][1] += f
        kinds[key][2] += 1
total_t = sum(v[0] for v in kinds.values())
print(f"{wall / 10:.3f} s/update; matrix products {total_t / 10:.3f} s/update, "
      f"{sum(v[1] for v in kinds.values()) / total_t / 1e12:.2f} TFLOP/s over them")
for key, (t_, f, n) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
    print(f"{t_ / wall * 100:5.1f}% of the update  {f / t_ / 1e12:5.2f} TFLOP/s  n={n / 10:.0f}  {key[0]} {key[1]}")

import sys, torch
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer
run = Path(sys.argv[1])
trainer = Trainer(load_config(run / "config.yaml", ["train.limits.max_time=600"]), run)
batches = iter(trainer.sampler)
for step in range(1, 31):
    trainer.update(trainer.draw_update(batches), step)
import time
with torch.profiler.profile(record_shapes=True) as prof:
    t0 = time.perf_counter()
    for step in range(31, 51):
        trainer.update(trainer.draw_update(batches), step)
    print("s/update", (time.perf_counter() - t0) / 20)
ka = [e for e in prof.key_averages(group_by_input_shape=True) if e.key in ("aten::copy_", "aten::add_", "aten::sum", "aten::addcmul", "aten::mul")]
ka.sort(key=lambda e: -e.self_cpu_time_total)
for e in ka[:40]: print(e.key, e.count, "%.1f ms" % (e.self_cpu_time_total / 1e3), str(e.input_shapes)[:150])

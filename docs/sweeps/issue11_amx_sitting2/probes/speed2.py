import sys, time, resource, ctypes, os
from pathlib import Path
mode = sys.argv[3] if len(sys.argv) > 3 else "default"
libc = ctypes.CDLL("libc.so.6")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
if mode != "default":
    mm, tr = (int(v) for v in mode.split(","))
    if mm: print("mmap", libc.mallopt(M_MMAP_THRESHOLD, mm))
    if tr: print("trim", libc.mallopt(M_TRIM_THRESHOLD, tr))
import torch
from nmt.config import load_config
from nmt.train.loop import Trainer
run = Path(sys.argv[1]); n = int(sys.argv[2])
trainer = Trainer(load_config(run / "config.yaml", ["train.limits.max_time=600"]), run)
batches = iter(trainer.sampler)
for step in range(1, 6):
    trainer.update(trainer.draw_update(batches), step)
r0 = resource.getrusage(resource.RUSAGE_SELF); t = time.perf_counter()
for step in range(6, 6 + n):
    trainer.update(trainer.draw_update(batches), step)
r1 = resource.getrusage(resource.RUSAGE_SELF)
rss = int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
print(f"{mode:24s} wall/update {(time.perf_counter() - t) / n:.3f} s  minflt/update {(r1.ru_minflt - r0.ru_minflt)/n:.0f} sys/update {(r1.ru_stime-r0.ru_stime)/n:.3f}s maxrss {r1.ru_maxrss/1024:.0f} MiB rss now {rss:.0f}")

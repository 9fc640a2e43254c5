import sys, ctypes, resource
from pathlib import Path
class MI2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6"); libc.mallinfo2.restype = MI2
def mib(x): return x / 2**20
def rss(): return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
def inuse():
    m = libc.mallinfo2(); return mib(m.uordblks), mib(m.arena), mib(m.hblkhd)
import torch
import nmt.train.losses as L
import nmt.train.update as U
from nmt.config import load_config
from nmt.train.loop import Trainer
orig = L.backward_in_chunks
fwd = []
def patched(states, target, *a, **k):
    fwd.append(inuse() + (tuple(states.shape),)); return orig(states, target, *a, **k)
U.backward_in_chunks = patched
run = Path(sys.argv[1])
trainer = Trainer(load_config(run / "config.yaml", ["train.limits.max_time=600"]), run)
print("after setup: in-use %.0f arena %.0f mmapped %.0f" % inuse(), "rss %.0f" % rss())
batches = iter(trainer.sampler)
for step in range(1, int(sys.argv[2]) + 1):
    b = trainer.draw_update(batches)
    shapes = [(tuple(x.src.shape), tuple(x.tgt_in.shape)) for x in b]
    import time; t0 = time.perf_counter(); trainer.update(b, step); dt = time.perf_counter() - t0
    f = fwd[-1]
    print(step, shapes, "fwd-end in-use %.0f arena %.0f mm %.0f" % f[:3], "| after in-use %.0f arena %.0f mm %.0f" % inuse(), "rss %.0f" % rss(), "%.3f s" % dt, flush=True)

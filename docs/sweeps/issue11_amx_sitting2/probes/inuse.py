import sys, ctypes, resource
from pathlib import Path
class MI2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6"); libc.mallinfo2.restype = MI2
def mib(x): return x / 2**20
def inuse():
    m = libc.mallinfo2(); return mib(m.uordblks + m.hblkhd), mib(m.arena), mib(m.hblkhd)
import torch
import nmt.train.losses as L
import nmt.train.update as U
from nmt.config import load_config
from nmt.train.loop import Trainer
orig = L.backward_in_chunks
peaks = []
def patched(*a, **k):
    peaks.append(inuse()); return orig(*a, **k)
U.backward_in_chunks = patched
run = Path(sys.argv[1])
trainer = Trainer(load_config(run / "config.yaml", ["train.limits.max_time=600"]), run)
print("after setup: in-use %.0f arena %.0f mmapped %.0f" % inuse(), "rss", int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20)
batches = iter(trainer.sampler)
for step in range(1, 31):
    trainer.update(trainer.draw_update(batches), step)
print("at the end of forward, max over 30 updates: in-use %.0f arena %.0f mmapped %.0f" % max(peaks))
print("after: in-use %.0f arena %.0f mmapped %.0f" % inuse(), "rss", int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20, "maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

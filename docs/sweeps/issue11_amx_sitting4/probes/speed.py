import sys, time, ctypes, resource
from pathlib import Path
import torch
from nmt.config import load_config
from nmt.train.loop import Trainer
import nmt
class MI2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6"); libc.mallinfo2.restype = MI2
run = Path(sys.argv[1]); n = int(sys.argv[2])
trainer = Trainer(load_config(run / "config.yaml", ["train.limits.max_time=600"]), run)
batches = iter(trainer.sampler)
times = []
for step in range(1, n + 1):
    b = trainer.draw_update(batches)
    t0 = time.perf_counter(); loss = trainer.update(b, step); times.append(time.perf_counter() - t0)
m = libc.mallinfo2()
print(Path(nmt.__file__).parent.parent.name, "s/update (11-%d) %.4f" % (n, sum(times[10:]) / len(times[10:])), "loss@%d %.4f" % (n, loss),
      "in-use %.0f arena %.0f maxrss %.0f" % (m.uordblks / 2**20, m.arena / 2**20, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))

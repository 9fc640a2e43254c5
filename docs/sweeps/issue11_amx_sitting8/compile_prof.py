import sys, time
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer
import nmt.models.dropout as D
import nmt.models.transformer as T
run = Path(sys.argv[1])
torch.manual_seed(0)
trainer = Trainer(load_config(run / "config.yaml"), run)
D.Dropout.forward = lambda self, x, residual=None: F.dropout(x, self.p, self.training) + (0 if residual is None else residual)
T.relu_dropout = lambda x, p, training: F.dropout(F.relu(x), p, training)
trainer.model.decoder_states = torch.compile(trainer.model.decoder_states, dynamic=True)
import torch._inductor.config as IC
IC.fallback_random = True
IC.cpp.enable_kernel_profile = True
batches = iter(trainer.sampler)
for step in range(1, 26):
    trainer.update(trainer.draw_update(batches), step)
with profile(activities=[ProfilerActivity.CPU]) as prof:
    t = time.perf_counter()
    for step in range(26, 31):
        trainer.update(trainer.draw_update(batches), step)
    wall = time.perf_counter() - t
print(f"{wall/5:.3f} s/update")
ka = prof.key_averages()
for e in sorted(ka, key=lambda e: -e.self_cpu_time_total)[:45]:
    print(f"{e.key[:70]:70s} {e.self_cpu_time_total/1e6/wall*100:5.1f}%  n={e.count/5:.0f}")

import sys, collections, traceback
from pathlib import Path
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from nmt.config import load_config
from nmt.train.loop import Trainer
stats = collections.Counter(); count = collections.Counter()
class Log(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in (torch.ops.aten._to_copy.default,):
            src = args[0]
            site = "?"
            for f in reversed(traceback.extract_stack()[:-1]):
                if "/nmt/" in f.filename or "torch/nn/modules" in f.filename or "torch/autograd" in f.filename:
                    site = f"{Path(f.filename).name}:{f.lineno}"; break
            key = (str(src.dtype), str(out.dtype), site)
            stats[key] += src.numel(); count[key] += 1
        return out
run = Path(sys.argv[1])
trainer = Trainer(load_config(run / "config.yaml", ["train.limits.max_time=600"]), run)
batches = iter(trainer.sampler)
for step in range(1, 4):
    trainer.update(trainer.draw_update(batches), step)
with Log():
    for step in range(4, 6):
        trainer.update(trainer.draw_update(batches), step)
tot = sum(stats.values())
for k, v in stats.most_common(25):
    print(f"{v/2/1e6:8.2f} M elem/update {count[k]/2:6.0f} calls  {k}")
print("total M elements per update", tot / 2 / 1e6, "calls", sum(count.values()) / 2)

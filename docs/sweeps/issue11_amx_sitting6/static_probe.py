"""One update's batches repeated: eager against torch.compile(dynamic=False) of decoder_states (kernel quality)."""
import sys, time, os
import torch
import torch.nn.functional as F
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer
import nmt.models.dropout as D
import nmt.models.transformer as T
run, variant = Path(sys.argv[1]), sys.argv[2]
torch.manual_seed(0)
trainer = Trainer(load_config(run / "config.yaml"), run)
batches = iter(trainer.sampler)
update = trainer.draw_update(batches)
print([tuple(b.src.shape) + tuple(b.tgt_in.shape) for b in update])
if variant != "eager":
    D.Dropout.forward = lambda self, x: F.dropout(x, self.p, self.training)
    T.relu_dropout = lambda x, p, training: F.dropout(F.relu(x), p, training)
    trainer.model.decoder_states = torch.compile(trainer.model.decoder_states, dynamic=False, mode=os.environ.get("MODE"))
t0 = time.perf_counter()
times = []
for step in range(1, 21):
    t = time.perf_counter(); trainer.update(update, step); times.append(time.perf_counter() - t)
print(variant, f"first {times[0]:.1f}s", "median last 10", f"{sorted(times[10:])[5]:.3f}")

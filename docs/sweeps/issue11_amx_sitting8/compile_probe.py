"""Per-update times: eager (nmt as is) against torch.compile of decoder_states with PyTorch dropout."""
import sys, time, json
import torch
import torch.nn.functional as F
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer
import nmt.models.dropout as D
import nmt.models.transformer as T

run, variant, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
trainer = Trainer(load_config(run / "config.yaml"), run)
import os
if os.environ.get("THREADS"): torch.set_num_threads(int(os.environ["THREADS"]))
print("threads", torch.get_num_threads())
import nmt.train.losses as L
if os.environ.get("CHUNK"): L.backward_in_chunks.__defaults__ = (int(os.environ["CHUNK"]),)
print("chunk", L.backward_in_chunks.__defaults__)
if "nodrop" in variant:
    for mod in trainer.model.modules():
        if hasattr(mod, "p"): mod.p = 0.0
        if type(mod).__name__ == "MultiHeadAttention": mod.dropout = 0.0
    variant = variant.replace("nodrop", "")
if variant != "eager":
    D.Dropout.forward = lambda self, x, residual=None: F.dropout(x, self.p, self.training) + (0 if residual is None else residual)
    T.relu_dropout = lambda x, p, training: F.dropout(F.relu(x), p, training)
    m = trainer.model
    kw = dict(dynamic=True) if variant == "dyn" else {}
    if variant in ("dyn", "auto"):
        m.decoder_states = torch.compile(m.decoder_states, **kw)
    elif variant == "layers":
        for l in list(m.encoder_layers) + list(m.decoder_layers):
            l.forward = torch.compile(l.forward, dynamic=True)
if os.environ.get("FALLBACK_RANDOM"):
    import torch._inductor.config as IC
    IC.fallback_random = True
print("fallback_random", os.environ.get("FALLBACK_RANDOM"))
batches = iter(trainer.sampler)
times, losses = [], []
t0 = time.perf_counter()
for step in range(1, n + 1):
    t = time.perf_counter()
    loss = trainer.update(trainer.draw_update(batches), step)
    times.append(time.perf_counter() - t)
    losses.append(float(loss) if loss is not None else None)
    if step % 10 == 0:
        print(step, f"{time.perf_counter()-t0:.1f}s total, last10 {sum(times[-10:])/10:.3f} s/update, loss {losses[-1]:.1f}", flush=True)
steady = sorted(times[n//2:])
print(variant, "median second half", f"{steady[len(steady)//2]:.3f}", "mean", f"{sum(steady)/len(steady):.3f}")

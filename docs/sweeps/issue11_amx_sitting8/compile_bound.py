"""How fast compiled training could be here: every dropout p = 0 (`eager_dropout`: the recipe as is) (no masks to draw or store), the model's
decoder_states compiled (Inductor, dynamic shapes), 5 updates profiled with Inductor's kernel names. Prints
seconds an update and the Inductor kernels that store a comparison (the ReLU backward's mask) on their own."""
import sys, time
import torch
import torch._inductor.config as IC
from torch.profiler import ProfilerActivity, profile
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer

IC.cpp.enable_kernel_profile = True
run, variant = Path(sys.argv[1]), sys.argv[2]  # eager | compiled | compiled_relu (all without dropout) | eager_dropout
torch.manual_seed(0)
trainer = Trainer(load_config(run / "config.yaml"), run)
for module in trainer.model.modules() if variant != "eager_dropout" else ():
    if hasattr(module, "p"): module.p = 0.0
    if type(module).__name__ == "MultiHeadAttention": module.dropout = 0.0
if variant == "compiled_relu":  # the feed-forward layer's ReLU alone, not dropout(ReLU) at p = 0
    import torch.nn.functional as F
    import nmt.models.transformer as T
    T.relu_dropout = lambda x, p, training: F.relu(x)
if variant.startswith("compiled"):
    trainer.model.decoder_states = torch.compile(trainer.model.decoder_states, dynamic=True)
sys.path.insert(0, "scripts")
from benchmark_training import matmul_flops_per_s
limit = matmul_flops_per_s(torch.device("cpu"), torch.bfloat16, 2048, 5)
FLOPS_PER_TARGET_TOKEN = 49_434_196  # benchmark_training.py on this code's recipe run (issue11_amx_final)
batches = iter(trainer.sampler)
for step in range(1, 31):
    trainer.update(trainer.draw_update(batches), step)
times, tokens = [], 0
for step in range(31, 61):
    update = trainer.draw_update(batches)
    tokens += sum(batch.n_tgt_tokens for batch in update)
    t = time.perf_counter()
    trainer.update(update, step)
    times.append(time.perf_counter() - t)
flops_per_update = FLOPS_PER_TARGET_TOKEN * tokens / 30
def utilisation(seconds):
    return f"{flops_per_update / seconds / limit:.1%}"
median = sorted(times)[15]
print(variant, f"median s/update over updates 31-60: {median:.3f}; bf16 limit {limit / 1e12:.2f} TFLOP/s;",
      f"{tokens / 30:.0f} target tokens an update; model FLOP/s over the limit {utilisation(median)}")
with profile(activities=[ProfilerActivity.CPU]) as prof:
    t = time.perf_counter()
    for step in range(61, 66):
        trainer.update(trainer.draw_update(batches), step)
    wall = (time.perf_counter() - t) / 5
print(f"profiled {wall:.3f} s/update")
ka = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
for e in ka[:12]:
    print(f"  {e.key[:80]:80s} {e.self_cpu_time_total / 1e6 / 5:.4f} s/update  {e.count / 5:.0f} calls")
relu = sum(e.self_cpu_time_total for e in ka if "cpp_fused" in e.key and "threshold_backward" in e.key) / 1e6 / 5
print(f"kernels with threshold_backward (ReLU mask) in their name: {relu:.3f} s/update; the rest: {wall - relu:.3f}",
      f"(profiled; model FLOP/s over the limit at that time {utilisation(wall - relu)})")

"""The matmul reference as the new scripts/benchmark_training.py takes it (fastest of 5 timings), at the end of the sitting."""
import sys
sys.path.insert(0, "/work/main/scripts")
import torch
from benchmark_training import matmul_flops_per_s
for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
    for n, repeats in ((4096, 3), (2048, 5)):
        print(name, f"{n}^3", f"{matmul_flops_per_s(torch.device('cpu'), dtype, n, repeats) / 1e12:.3f} TFLOP/s", flush=True)

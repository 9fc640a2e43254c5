"""Inductor (torch 2.13, CPU) storing a comparison's result: bool against uint8, bf16 against fp32 input, 4096 x 1024."""
import time, torch, os
import torch._inductor.config as IC
if os.environ.get("SIMDLEN"): IC.cpp.simdlen = int(os.environ["SIMDLEN"])

def bench(fn, x, n=40):
    for _ in range(5): fn(x)
    ts = []
    for _ in range(n):
        t = time.perf_counter(); fn(x); ts.append(time.perf_counter() - t)
    return sorted(ts)[n // 2] * 1e3

variants = {
    "x <= 0 (bool)": lambda x: x <= 0,
    "(x <= 0).to(uint8)": lambda x: (x <= 0).to(torch.uint8),
    "relu(x)": lambda x: torch.relu(x),
}
for dtype in (torch.bfloat16, torch.float32):
    x = torch.randn(4096, 1024, dtype=dtype)
    for name, fn in variants.items():
        print(f"{str(dtype):15s} {name:22s} eager {bench(fn, x):6.2f} ms   compiled {bench(torch.compile(fn, dynamic=True), x):6.2f} ms")

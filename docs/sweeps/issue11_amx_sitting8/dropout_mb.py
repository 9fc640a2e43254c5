"""Where dropout's time goes in one update of the recipe: 17 masks of 4096 x 256 and 6 of 4096 x 1024 (bf16)."""
import time, numpy as np, torch
from nmt.models.dropout import keep_mask, _AddScaleKept, _ReluScaleKept

def ms(fn, n=30):
    for _ in range(3): fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return sorted(ts)[n // 2] * 1e3

for shape in ((4096, 256), (4096, 1024)):
    n = shape[0] * shape[1]
    x = torch.randn(shape, dtype=torch.bfloat16); r = torch.randn(shape, dtype=torch.bfloat16)
    keep = keep_mask(torch.Size(shape), 0.1)
    draws = np.random.SFC64(1).random_raw((n + 3) // 4)
    u = draws.view(np.int16)[:n]
    print(shape)
    print(f"  keep_mask whole          {ms(lambda: keep_mask(torch.Size(shape), 0.1)):6.2f} ms")
    print(f"    SFC64 random_raw       {ms(lambda: np.random.SFC64(1).random_raw((n + 3) // 4)):6.2f} ms")
    print(f"    numpy compare          {ms(lambda: u >= 6554 - 32768):6.2f} ms")
    print(f"  forward addcmul residual {ms(lambda: _AddScaleKept.masked(r, x, keep, 1 / 0.9)):6.2f} ms")
    print(f"  backward addcmul         {ms(lambda: _AddScaleKept.masked(x.new_zeros(()), x, keep, 1 / 0.9)):6.2f} ms")
    print(f"  plain add (p = 0 path)   {ms(lambda: r + x):6.2f} ms")
    print(f"  mul by bf16 mask         {ms(lambda: x * x):6.2f} ms")

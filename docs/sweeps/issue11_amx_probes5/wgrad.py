import time, torch
torch.manual_seed(0)
def bench(f, n=30):
    for _ in range(3): f()
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n): f()
        best = min(best, (time.perf_counter() - t) / n)
    return best
for N, din, dout in [(4096, 256, 1024), (4096, 1024, 256), (4096, 256, 256), (4096, 256, 512)]:
    x = torch.randn(N, din).bfloat16(); g = torch.randn(N, dout).bfloat16()
    flop = 2 * N * din * dout
    r = {
      "g.t()@x (autograd)": lambda: g.t() @ x,
      "g.t().contiguous()@x": lambda: g.t().contiguous() @ x,
      "(x.t()@g).t().contiguous()": lambda: (x.t() @ g).t().contiguous(),
      "x.t().contiguous()@g": lambda: x.t().contiguous() @ g,
      "fwd x@W.t()": lambda: x @ torch.empty(dout, din, dtype=torch.bfloat16).t(),
    }
    print(N, din, dout, {k: f"{flop / bench(f) / 1e12:.2f}" for k, f in r.items()})

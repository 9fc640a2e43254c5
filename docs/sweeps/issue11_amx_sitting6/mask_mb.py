import torch, time, numpy as np
torch.manual_seed(0)
def t(f, n=30):
    for _ in range(3): f()
    ts = []
    for _ in range(n):
        s = time.perf_counter(); f(); ts.append(time.perf_counter() - s)
    return sorted(ts)[n // 2] * 1e3
n = 4096 * 1024
draws = np.random.SFC64(1).random_raw((n + 3) // 4)
u16 = torch.from_numpy(draws.view(np.int16)[:n])
thr = round(0.1 * 2 ** 16) - 2 ** 15
print("draw numpy", t(lambda: np.random.SFC64(1).random_raw((n + 3) // 4)))
print("torch ge", t(lambda: u16 >= thr))
a16 = draws.view(np.int16)[:n]
print("numpy ge", t(lambda: a16 >= thr))
out = np.empty(n, dtype=bool)
print("numpy ge out", t(lambda: np.greater_equal(a16, thr, out=out)))
y = torch.randn(n).bfloat16().relu(); g = torch.randn(n).bfloat16()
keep = (u16 >= thr)
print("gt", t(lambda: y > 0))
print("gt+addcmul", t(lambda: torch.addcmul(g.new_zeros(()), g, (y > 0).view(torch.uint8), value=1.1)))
print("threshold_backward+mul_", t(lambda: torch.ops.aten.threshold_backward(g, y, 0).mul_(1.1)))
print("where", t(lambda: torch.where(y > 0, g * 1.1, 0)))
x = torch.randn(4096 * 256).bfloat16(); b = torch.randn(4096 * 256).bfloat16(); k = torch.rand(4096*256) > 0.1
print("addcmul0 + add", t(lambda: x + torch.addcmul(b.new_zeros(()), b, k.view(torch.uint8), value=1.1)))
print("addcmul fused", t(lambda: torch.addcmul(x, b, k.view(torch.uint8), value=1.1)))

import torch, time
import torch.nn.functional as F
torch.manual_seed(0)
lin1, lin2 = torch.nn.Linear(256, 1024), torch.nn.Linear(1024, 256)
x = torch.randn(4095, 256, requires_grad=True)
def ff(x):
    return lin2(F.relu(lin1(x)))
def run(f, n=20):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = f(x.bfloat16())
        y.float().sum().backward()
        ts.append(time.perf_counter() - t)
    return sorted(ts)[n // 2] * 1e3
print("eager", f"{run(ff):.2f} ms")
cf = torch.compile(ff, dynamic=False)
run(cf, 3)
print("compiled", f"{run(cf):.2f} ms")
print("eager", f"{run(ff):.2f} ms")

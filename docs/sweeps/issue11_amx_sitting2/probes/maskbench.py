import time, torch
from nmt.models.dropout import keep_mask
def t(name, f, n=50):
    for _ in range(3): f()
    s = time.perf_counter()
    for _ in range(n): f()
    print(f"{name:40s} {(time.perf_counter()-s)/n*1e3:7.3f} ms")
for shape, dt in [((4096, 1024), torch.bfloat16), ((4096, 256), torch.bfloat16), ((4096, 256), torch.float32)]:
    x = torch.randn(shape).to(dt); keep = keep_mask(x.shape, 0.1); u8 = keep.view(torch.uint8); sc = 1 / 0.9
    print(shape, dt)
    t("current", lambda: x * keep.to(x.dtype).mul_(sc))
    t("u8 to dtype mul_ then mul", lambda: x * u8.to(x.dtype).mul_(sc))
    t("(x*u8).mul_(sc)", lambda: (x * u8).mul_(sc))
    t("x.mul(sc) * u8", lambda: x.mul(sc) * u8)
    t("x.mul(sc).mul_(u8)", lambda: x.mul(sc).mul_(u8))
    t("mul(x, u8.to(dt), alpha?)", lambda: torch.mul(x, u8.to(x.dtype)).mul_(sc))

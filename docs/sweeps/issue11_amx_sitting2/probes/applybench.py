import time, torch
from nmt.models.dropout import keep_mask
def t(name, f, n=50):
    for _ in range(3): f()
    s = time.perf_counter()
    for _ in range(n): f()
    print(f"{name:40s} {(time.perf_counter()-s)/n*1e3:7.3f} ms")
for shape, dt in [((4096, 1024), torch.bfloat16), ((4096, 256), torch.float32)]:
    x = torch.randn(shape).to(dt); keep = keep_mask(x.shape, 0.1); u8 = keep.view(torch.uint8); sc = 1 / 0.9
    zero = x.new_zeros(())
    print(shape, dt)
    t("current", lambda: x * u8.to(x.dtype).mul_(sc))
    t("addcmul(0, x, u8.to, value=sc)", lambda: torch.addcmul(zero, x, u8.to(x.dtype), value=sc))
    t("addcmul(0, x, u8, value=sc)", lambda: torch.addcmul(zero, x, u8, value=sc))
    m = u8.to(x.dtype)
    t("  cast only", lambda: u8.to(x.dtype))
    t("  addcmul only", lambda: torch.addcmul(zero, x, m, value=sc))
    t("  mul only", lambda: x * m)

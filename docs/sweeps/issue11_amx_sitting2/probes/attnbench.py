import time, math, torch, torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
def manual(q, k, v, mask, causal):
    scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(q.size(-1)))
    if causal:
        mask = torch.ones(q.size(-2), k.size(-2), dtype=torch.bool).tril()
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, -1) @ v
def sdpa_math(q, k, v, mask, causal):
    with sdpa_kernel(SDPBackend.MATH):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=None if causal else mask, is_causal=causal)
def sdpa_flash(q, k, v, mask, causal):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=None if causal else mask, is_causal=causal)
for B, T in [(409, 10), (204, 20), (124, 33)]:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, 4, T, 64, generator=g).bfloat16().requires_grad_() for _ in range(3))
    mask = torch.ones(B, 1, 1, T, dtype=torch.bool); mask[: B // 2, ..., T - 3:] = False
    for causal in (False, True):
        ref = None
        for name, f in [("math", sdpa_math), ("flash", sdpa_flash), ("manual", manual)]:
            def step():
                for t in (q, k, v): t.grad = None
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    out = f(q, k, v, mask, causal)
                out.float().pow(2).sum().backward()
                return out
            out = step()
            if ref is None: ref = out.float()
            for _ in range(3): step()
            s = time.perf_counter()
            for _ in range(20): step()
            print(f"B{B} T{T} causal={causal} {name:7s} {(time.perf_counter()-s)/20*1e3:6.2f} ms  out dtype {out.dtype} maxdiff vs math {(out.float()-ref).abs().max().item():.4f}")

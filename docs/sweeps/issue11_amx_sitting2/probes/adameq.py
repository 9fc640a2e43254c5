import torch
torch.manual_seed(0)
ps = [torch.randn(300, 200) for _ in range(3)]
outs = []
for fused in (False, True):
    params = [p.clone().requires_grad_() for p in ps]
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.98), eps=1e-9, fused=fused)
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        for p in params: p.grad = torch.randn(p.shape, generator=g)
        opt.step()
    outs.append(params)
print(max((a - b).abs().max().item() for a, b in zip(*outs)))

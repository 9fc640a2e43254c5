import runpy, sys, torch, torch.nn.functional as F
orig = F.linear
M = int(sys.argv.pop(1))
def linear(x, w, b=None):
    if x.dim() < 2 or not torch.is_grad_enabled(): return orig(x, w, b)
    lead = x.shape[:-1]; flat = x.reshape(-1, x.shape[-1]); n = flat.shape[0]
    pad = -n % M
    y = orig(F.pad(flat, (0, 0, 0, pad)) if pad else flat, w, b)
    return y[:n].reshape(*lead, y.shape[-1])
F.linear = linear
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")

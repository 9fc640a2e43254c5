import sys, time, importlib.util
from pathlib import Path
import torch
from nmt.config import load_config
from nmt.train.loop import Trainer
from nmt.data.batching import make_batch
# the previous batching.py, from git: git show 7fd0777:nmt/data/batching.py > /tmp/batching_old.py
spec = importlib.util.spec_from_file_location("old", "/tmp/batching_old.py"); old = importlib.util.module_from_spec(spec); spec.loader.exec_module(old)
run = Path(sys.argv[1])
tr = Trainer(load_config(run / "config.yaml"), run)
it = iter(tr.sampler)
drawn = [next(it) for _ in range(300)]
for epoch, idx in drawn:
    a, b = make_batch(*tr.pairs.epoch(epoch), idx), old.make_batch(*tr.pairs.epoch(epoch), idx)
    assert all(torch.equal(x, y) and x.dtype == y.dtype for x, y in [(a.src, b.src), (a.tgt_in, b.tgt_in), (a.tgt_out, b.tgt_out)]) and a.n_tgt_tokens == b.n_tgt_tokens
for f in (make_batch, old.make_batch):
    t = time.perf_counter()
    for epoch, idx in drawn[:100]:
        f(*tr.pairs.epoch(epoch), idx)
    print(f.__module__, f"{1000*(time.perf_counter()-t)/100:.2f} ms per batch")

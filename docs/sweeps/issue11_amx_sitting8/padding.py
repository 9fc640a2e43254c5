"""Share of real tokens in the recipe's padded batches (source and target), over 200 updates."""
import sys
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer
from nmt.tokenize.base import PAD_ID
run = Path(sys.argv[1])
trainer = Trainer(load_config(run / "config.yaml"), run)
batches = iter(trainer.sampler)
real_s = pad_s = real_t = pad_t = 0
for step in range(200):
    for b in trainer.draw_update(batches):
        real_s += int((b.src != PAD_ID).sum()); pad_s += b.src.numel()
        real_t += int((b.tgt_out != PAD_ID).sum()); pad_t += b.tgt_out.numel()
print(f"source real {real_s/pad_s:.3f}, target real {real_t/pad_t:.3f}, per update {real_t/200:.0f} target tokens, {pad_s/200:.0f}+{pad_t/200:.0f} padded positions")

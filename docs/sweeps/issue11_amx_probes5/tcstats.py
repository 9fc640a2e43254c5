"""Where tcmalloc's resident memory goes during bf16 training: in use (peak at the end of the decoder's forward,
and between updates) against what tcmalloc holds free. Run under LD_PRELOAD=libtcmalloc_minimal.so.4."""
import ctypes, sys
from pathlib import Path
from nmt.config import load_config
from nmt.train.loop import Trainer
tc = ctypes.CDLL("libtcmalloc_minimal.so.4")
def prop(name):
    v = ctypes.c_size_t(); tc.MallocExtension_GetNumericProperty(name.encode(), ctypes.byref(v)); return v.value / 2**20
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
run, n = Path(sys.argv[1]), int(sys.argv[2])
trainer = Trainer(load_config(run / "config.yaml", ["train.limits.max_time=0"]), run)
peak = {"in_use": 0.0}
def at_forward_end(module, args, out):
    peak["in_use"] = max(peak["in_use"], prop("generic.current_allocated_bytes"))
trainer.model.decoder_norm.register_forward_hook(at_forward_end)
batches = iter(trainer.sampler)
print("update  rss  in_use(between)  peak_in_use(fwd end)  heap_size  pageheap_free  unmapped  central  transfer  thread")
for step in range(1, n + 1):
    trainer.update(trainer.draw_update(batches), step)
    if step in (1, 10) or step % 25 == 0:
        print(f"{step:5d} {rss():6.0f} {prop('generic.current_allocated_bytes'):6.0f} {peak['in_use']:6.0f} "
              f"{prop('generic.heap_size'):6.0f} {prop('tcmalloc.pageheap_free_bytes'):6.0f} "
              f"{prop('tcmalloc.pageheap_unmapped_bytes'):6.0f} {prop('tcmalloc.central_cache_free_bytes'):6.0f} "
              f"{prop('tcmalloc.transfer_cache_free_bytes'):6.0f} {prop('tcmalloc.thread_cache_free_bytes'):6.0f}", flush=True)
